import type { NotificationKind } from '../../domain/alerts/lifecycle.ts';
import type {
  NotificationChannel,
  QueuedNotification,
  UndeliveredNotifications,
} from '../../domain/ports/alert-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Notifications due by `now`, oldest first (the `alert_notifications_due` index), each with
 * whether a newer one of the same alert, channel and destination exists
 * (`alert_notifications_alert`), and whether it is a unit's copy of an alert about another unit
 * or none (a provider's): its alert's `unit_id` is not the notification's.
 */
export async function dueNotifications(
  handle: DatabaseHandle,
  now: number,
  limit: number,
): Promise<QueuedNotification[]> {
  const rows = await handle.db
    .selectFrom('alert_notifications as n')
    .leftJoin('alerts as a', 'a.id', 'n.alert_id')
    .selectAll('n')
    .select('a.unit_id as alert_unit_id')
    .select((eb) =>
      eb
        .exists(
          eb
            .selectFrom('alert_notifications as newer')
            .select('newer.id')
            .whereRef('newer.alert_id', '=', 'n.alert_id')
            .whereRef('newer.channel', '=', 'n.channel')
            // The same destination: a provider's alert goes to the global Slack channel (null)
            // and to units' own, and one channel's newer word says nothing to another.
            .where((w) =>
              w.or([
                w('newer.unit_id', '=', w.ref('n.unit_id')),
                w.and([w('newer.unit_id', 'is', null), w('n.unit_id', 'is', null)]),
              ]),
            )
            .whereRef('newer.created_at', '>', 'n.created_at'),
        )
        .as('superseded'),
    )
    .where('n.state', '=', 'pending')
    .where('n.next_attempt_at', '<=', now)
    .orderBy('n.next_attempt_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    alertId: r.alert_id,
    kind: r.kind as NotificationKind,
    channel: r.channel as NotificationChannel,
    unitId: r.unit_id,
    payload: r.payload,
    attempts: Number(r.attempts),
    createdAt: Number(r.created_at),
    // SQLite answers 1 or 0, PostgreSQL true or false.
    superseded: Boolean(r.superseded) && r.alert_id !== null,
    // An alert pruned meanwhile (the last tries of a RESOLVED) counts as a copy: the unit's
    // channel or nothing, never a second word in the global channel.
    unitCopy: r.unit_id !== null && r.alert_unit_id !== r.unit_id,
  }));
}

/** Not sent, and never will be: `reason` says why (no secret in it). */
export async function notificationDropped(handle: DatabaseHandle, id: string, reason: string) {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('alert_notifications')
      .set({ state: 'dropped', last_error: reason.slice(0, 500) })
      .where('id', '=', id)
      .execute(),
  );
}

export async function notificationSuperseded(handle: DatabaseHandle, id: string) {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('alert_notifications')
      .set({ state: 'superseded', last_error: 'a newer notification of the same alert was queued' })
      .where('id', '=', id)
      .execute(),
  );
}

export async function notificationSent(handle: DatabaseHandle, id: string, now: number) {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('alert_notifications')
      .set((eb) => ({
        state: 'sent',
        sent_at: now,
        attempts: eb('attempts', '+', 1),
        last_error: null,
      }))
      .where('id', '=', id)
      .execute(),
  );
}

export async function notificationFailed(
  handle: DatabaseHandle,
  id: string,
  error: string,
  retryAt: number | null,
) {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('alert_notifications')
      .set((eb) => ({
        state: retryAt === null ? 'failed' : 'pending',
        next_attempt_at: retryAt ?? eb.ref('next_attempt_at'),
        attempts: eb('attempts', '+', 1),
        last_error: error.slice(0, 500),
      }))
      .where('id', '=', id)
      .execute(),
  );
}

/**
 * Destinations whose notifications fail: pending ones that failed at least once (the partial
 * `alert_notifications_due` index holds only pending rows), and those given up since `since`.
 * A given-up row keeps the `next_attempt_at` of its last try, which is when it was given up:
 * its `created_at` is a day older than that when it was given up after a day of failures.
 */
export async function undeliveredNotifications(
  handle: DatabaseHandle,
  since: number,
): Promise<UndeliveredNotifications[]> {
  const rows = await handle.db
    .selectFrom('alert_notifications')
    .select(['channel', 'unit_id', 'state', 'last_error'])
    .where((eb) =>
      eb.or([
        eb.and([eb('state', '=', 'pending'), eb('attempts', '>', 0)]),
        eb.and([eb('state', '=', 'failed'), eb('next_attempt_at', '>=', since)]),
      ]),
    )
    // The last try first: its error is the destination's newest.
    .orderBy('next_attempt_at', 'desc')
    .execute();
  const byDestination = new Map<string, UndeliveredNotifications>();
  for (const r of rows) {
    const key = `${r.channel}\u0000${r.unit_id ?? ''}`;
    let d = byDestination.get(key);
    if (!d) {
      d = {
        channel: r.channel as NotificationChannel,
        unitId: r.unit_id,
        retrying: 0,
        givenUp: 0,
        lastError: r.last_error,
      };
      byDestination.set(key, d);
    }
    if (r.state === 'pending') d.retrying++;
    else d.givenUp++;
  }
  return [...byDestination.values()];
}

/**
 * The units whose own Slack channel was queued a notification of `alertId` that was not dropped
 * (a copy dropped before it was sent told the unit nothing, and has nothing to close).
 */
export async function unitChannelsNotified(
  handle: DatabaseHandle,
  alertId: string,
): Promise<string[]> {
  const rows = await handle.db
    .selectFrom('alert_notifications')
    .select('unit_id')
    .distinct()
    .where('alert_id', '=', alertId)
    .where('channel', '=', 'slack')
    .where('unit_id', 'is not', null)
    .where('state', '<>', 'dropped')
    .execute();
  return rows.map((r) => r.unit_id as string);
}
