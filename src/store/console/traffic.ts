import { sql } from 'kysely';
import { firstIdAt } from '../../domain/ids.ts';
import type { TrafficData } from '../../domain/ports/console-traffic.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * The overview's counts since `since`: messages accepted (a range of ULIDs, which sort by
 * time), attempts (by `attempts_started`) and delivery events (by `delivery_events_received`),
 * each bucketed by minute. Integer division buckets alike on SQLite and PostgreSQL.
 */
export async function traffic(
  handle: DatabaseHandle,
  since: number,
  unitId?: string,
): Promise<TrafficData> {
  const db = handle.db;
  const minute = (column: string) => sql<number>`(${sql.ref(column)} / 60000)`;
  let accepted = db
    .selectFrom('messages')
    .select([
      minute('messages.created_at').as('minute'),
      (eb) => eb.fn.countAll<number>().as('count'),
    ])
    .where('messages.id', '>=', firstIdAt('msg', since));
  if (unitId) accepted = accepted.where('messages.unit_id', '=', unitId);

  let attempts = db
    .selectFrom('attempts')
    .select([
      minute('attempts.started_at').as('minute'),
      'attempts.outcome as outcome',
      'attempts.provider as provider',
      (eb) => eb.fn.countAll<number>().as('count'),
    ])
    .where('attempts.started_at', '>=', since);
  if (unitId) {
    attempts = attempts
      .innerJoin('messages', 'messages.id', 'attempts.message_id')
      .where('messages.unit_id', '=', unitId);
  }

  // A block is the event whose stored status (statusOfEvent, applied when it was stored) is
  // `blocked`. A bounce that an earlier release's process stored during an upgrade has no status
  // and counts as bounced (docs/deploy.md).
  const blocked = sql<number>`(case when ${sql.ref('delivery_events.delivery_status')} = 'blocked' then 1 else 0 end)`;
  let events = db
    .selectFrom('delivery_events')
    .select([
      'delivery_events.event as event',
      blocked.as('blocked'),
      (eb) => eb.fn.countAll<number>().as('count'),
    ])
    .where('delivery_events.received_at', '>=', since);
  if (unitId) {
    events = events
      .innerJoin('messages', 'messages.id', 'delivery_events.message_id')
      .where('messages.unit_id', '=', unitId);
  }

  const [acceptedRows, attemptRows, eventRows] = await Promise.all([
    accepted.groupBy(sql`1`).execute(),
    attempts.groupBy([sql`1`, 'attempts.outcome', 'attempts.provider']).execute(),
    events.groupBy(['delivery_events.event', sql`2`]).execute(),
  ]);
  const byMinuteOutcome = new Map<string, { minute: number; outcome: string; count: number }>();
  const providers = new Map<string, { provider: string; attempts: number; failed: number }>();
  for (const r of attemptRows) {
    const key = `${r.minute}/${r.outcome}`;
    const seen = byMinuteOutcome.get(key) ?? {
      minute: Number(r.minute),
      outcome: r.outcome,
      count: 0,
    };
    seen.count += Number(r.count);
    byMinuteOutcome.set(key, seen);
    const p = providers.get(r.provider) ?? { provider: r.provider, attempts: 0, failed: 0 };
    p.attempts += Number(r.count);
    if (r.outcome !== 'accepted') p.failed += Number(r.count);
    providers.set(r.provider, p);
  }
  return {
    accepted: acceptedRows.map((r) => ({ minute: Number(r.minute), count: Number(r.count) })),
    attempts: [...byMinuteOutcome.values()],
    providers: [...providers.values()],
    events: eventRows.map((r) => ({
      event: r.event,
      blocked: Number(r.blocked) === 1,
      count: Number(r.count),
    })),
  };
}
