import type { TimelineEntry } from '../../domain/ports/delivery-event-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readJson } from '../engine/read-json.ts';

/** A message's delivery events, in the order they happened. */
export async function timeline(
  handle: DatabaseHandle,
  messageId: string,
): Promise<TimelineEntry[]> {
  const rows = await handle.db
    .selectFrom('delivery_events')
    .select(['event', 'email_normalized', 'occurred_at', 'received_at', 'payload'])
    .where('message_id', '=', messageId)
    .orderBy('occurred_at')
    .orderBy('received_at')
    .execute();
  // SendGrid's times are whole seconds: within one second, show events in their natural order.
  rows.sort(
    (a, b) =>
      a.occurred_at - b.occurred_at ||
      naturalOrder(a.event) - naturalOrder(b.event) ||
      a.received_at - b.received_at,
  );
  return rows.map((r) => ({
    event: r.event,
    email: r.email_normalized,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    payload: readJson(r.payload) as Record<string, unknown>,
  }));
}

const NATURAL_ORDER = ['processed', 'dropped', 'deferred', 'delivered', 'bounce', 'open', 'click'];

function naturalOrder(event: string): number {
  const index = NATURAL_ORDER.indexOf(event);
  return index === -1 ? NATURAL_ORDER.length : index;
}
