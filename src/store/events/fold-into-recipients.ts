import { type Kysely, sql } from 'kysely';
import { type DeliveryMark, foldMarks, outranks } from '../../domain/recipient-state.ts';
import { statusWebhooksForRecipient, type WebhookEvent } from '../../domain/status-webhooks.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { markConfirmed } from '../messages/mark-confirmed.ts';
import type { Database } from '../schema.ts';
import { enqueueWebhookEvents } from '../status-webhooks/enqueue.ts';
import { chunks } from '../write/insert-rows.ts';
import type { Matched } from './rows.ts';

/** Folds new delivery events into each recipient's status; order and duplicates do not matter. */
export async function foldIntoRecipients(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  events: Matched[],
  now: number,
): Promise<void> {
  await markConfirmed(
    trx,
    events.map((e) => e.messageId),
    now,
  );
  const candidates = new Map<string, DeliveryMark[]>();
  for (const e of events) {
    if (!e.status) continue;
    const id = `${e.messageId}\n${e.email}`;
    const list = candidates.get(id) ?? [];
    list.push({ status: e.status, at: e.occurredAt, eventId: e.key });
    candidates.set(id, list);
  }
  if (candidates.size === 0) return;
  const messageIds = [...new Set(events.map((e) => e.messageId))];
  const changes: { messageId: string; email: string; mark: DeliveryMark }[] = [];
  const webhooks: WebhookEvent[] = [];
  for (const part of chunks(messageIds)) {
    const query = trx
      .selectFrom('recipients')
      .select([
        'message_id',
        'email_normalized',
        'delivery_status',
        'delivery_status_at',
        'delivery_event_key',
      ])
      .where('message_id', 'in', part);
    // PostgreSQL: two batches about one recipient must not both read the old status.
    const recipients = await handle.dialect.lockRowsForUpdate(query).execute();
    // An address may be listed more than once in a message (in two personalizations of a request
    // forwarded to SendGrid): its rows share one status, set together by the update below, so
    // its change is one change and one status webhook.
    const folded = new Set<string>();
    for (const r of recipients) {
      const id = `${r.message_id}\n${r.email_normalized}`;
      if (folded.has(id)) continue;
      folded.add(id);
      const best = foldMarks(candidates.get(id) ?? []);
      if (!best) continue;
      const current: DeliveryMark | null =
        r.delivery_status && r.delivery_status_at !== null && r.delivery_event_key
          ? {
              status: r.delivery_status as DeliveryMark['status'],
              at: r.delivery_status_at,
              eventId: r.delivery_event_key,
            }
          : null;
      if (!outranks(best, current)) continue;
      changes.push({ messageId: r.message_id, email: r.email_normalized, mark: best });
      webhooks.push(
        ...statusWebhooksForRecipient(
          r.message_id,
          r.email_normalized,
          current?.status ?? null,
          best.status,
        ),
      );
    }
  }
  // One statement for all changes: on PostgreSQL one round trip per change was most of the
  // time of a 1,000-event batch.
  for (const part of chunks(changes, 1_000)) {
    const rows = sql.join(
      part.map(
        (c) =>
          sql`(${c.messageId}, ${c.email}, ${c.mark.status}, cast(${c.mark.at} as bigint), ${c.mark.eventId})`,
      ),
    );
    await sql`with v(message_id, email, status, at, event_key) as (values ${rows})
        update recipients set
          delivery_status = v.status,
          delivery_status_at = v.at,
          delivery_event_key = v.event_key
        from v
        where recipients.message_id = v.message_id and recipients.email_normalized = v.email`.execute(
      trx,
    );
  }
  await enqueueWebhookEvents(trx, handle, webhooks, now);
}
