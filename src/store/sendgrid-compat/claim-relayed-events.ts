import type { RelayedEvent } from '../../domain/ports/sendgrid-event-relay-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Claims up to `limit` due events of one unit (the unit whose event is due longest), oldest
 * first, for one post: their due time becomes the lease's end, so a sender that dies leaves
 * them due again. On PostgreSQL concurrent senders skip each other's rows; SQLite's write lock
 * serialises claims.
 */
export async function claimRelayedEvents(
  handle: DatabaseHandle,
  now: number,
  limit: number,
  leaseMs: number,
): Promise<RelayedEvent[]> {
  const claimed = await handle.writeTransaction(async (trx) => {
    const first = await trx
      .selectFrom('sendgrid_relay_events')
      .select('unit_id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(1)
      .executeTakeFirst();
    if (!first) return [];
    const due = handle.dialect.skipLocked(
      trx
        .selectFrom('sendgrid_relay_events')
        .select('event_key')
        .where('unit_id', '=', first.unit_id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .orderBy('event_key')
        .limit(limit),
    );
    return trx
      .updateTable('sendgrid_relay_events')
      .set({ next_attempt_at: now + leaseMs })
      .where('event_key', 'in', due)
      .returning(['event_key', 'unit_id', 'x_message_id', 'attempts', 'queued_at'])
      .execute();
  });
  if (claimed.length === 0) return [];
  const payloads = await handle.db
    .selectFrom('delivery_events')
    .select(['event_key', 'payload', 'occurred_at'])
    .where(
      'event_key',
      'in',
      claimed.map((c) => c.event_key),
    )
    .execute();
  const byKey = new Map(payloads.map((p) => [p.event_key, p]));
  const events: { event: RelayedEvent; occurredAt: number }[] = [];
  for (const row of claimed) {
    const stored = byKey.get(row.event_key);
    events.push({
      event: {
        eventKey: row.event_key,
        unitId: row.unit_id,
        xMessageId: row.x_message_id,
        attempts: Number(row.attempts),
        queuedAt: Number(row.queued_at),
        payload: payloadOf(stored?.payload),
      },
      occurredAt: Number(stored?.occurred_at ?? 0),
    });
  }
  // In the order the events happened, as SendGrid posts them.
  return events.sort((a, b) => a.occurredAt - b.occurredAt).map((e) => e.event);
}

/** The stored event; one that is not a JSON object (edited by hand) is relayed as `{}`. */
function payloadOf(text: string | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text ?? '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // not JSON
  }
  return {};
}
