import type { Kysely } from 'kysely';
import type { MessageContent } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readJson } from '../engine/read-json.ts';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Queues the stored delivery events among `eventKeys` whose message came in through
 * `POST /v3/mail/send` (its content names an X-Message-Id) and whose unit has a relay. An event
 * already queued stays as it is. Events posted earlier are queued again if the provider posts
 * them again: relaying is at least once, as SendGrid's own Event Webhook is.
 */
export async function queueRelayedEvents(
  handle: DatabaseHandle,
  eventKeys: string[],
  now: number,
): Promise<number> {
  if (eventKeys.length === 0) return 0;
  let queued = 0;
  for (const part of chunks(eventKeys)) {
    // Looked up first outside a write transaction: most events belong to no relayed mail (no
    // unit has a relay, or the mail came through /v1), and taking the write lock for nothing
    // doubled the write transactions of every slice of an Event Webhook batch; on SQLite such a
    // turn could also wait out another process's lock and answer 503 after the batch was stored.
    const candidates = await relayedRows(handle.db, part, now);
    if (candidates.length === 0) continue;
    queued += await handle.writeTransaction(async (trx) => {
      // Again under the write lock: a relay may have been removed meanwhile. Only the relays
      // are read again, not the messages' content.
      const units = [...new Set(candidates.map((c) => c.unit_id))];
      const still = new Set(
        (
          await trx
            .selectFrom('sendgrid_event_relays')
            .select('unit_id')
            .where('unit_id', 'in', units)
            .execute()
        ).map((r) => r.unit_id),
      );
      const relayed = candidates.filter((c) => still.has(c.unit_id));
      if (relayed.length === 0) return 0;
      const result = await trx
        .insertInto('sendgrid_relay_events')
        .values(relayed)
        .onConflict((c) => c.column('event_key').doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0);
    });
  }
  return queued;
}

/** The queue rows of the stored events among `eventKeys` whose mail is relayed. */
async function relayedRows(db: Kysely<Database>, eventKeys: string[], now: number) {
  const rows = await db
    .selectFrom('delivery_events as de')
    .innerJoin('messages as m', 'm.id', 'de.message_id')
    .innerJoin('sendgrid_event_relays as r', 'r.unit_id', 'm.unit_id')
    .select(['de.event_key', 'm.unit_id', 'm.content'])
    .where('de.event_key', 'in', eventKeys)
    .execute();
  // The X-Message-Id is kept in the message's content JSON. It is read here, not by the
  // database: PostgreSQL's JSON functions refuse a document holding an escaped NUL
  // (`\u0000`), which any accepted message's text may contain.
  return rows.flatMap((row) => {
    const xMessageId = xMessageIdOf(row.content);
    return xMessageId
      ? [
          {
            event_key: row.event_key,
            unit_id: row.unit_id,
            x_message_id: xMessageId,
            status: 'pending',
            attempts: 0,
            queued_at: now,
            next_attempt_at: now,
          },
        ]
      : [];
  });
}

/** The X-Message-Id a message was answered with; undefined if it has none (or unreadable content). */
function xMessageIdOf(content: string): string | undefined {
  const id = (readJson(content) as MessageContent | null | undefined)?.sendgrid?.xMessageId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
