import type { Kysely } from 'kysely';
import { sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * Unmatched delivery events by arrival: late matching walks them in this order with a cursor
 * (only those of the match window), and retention deletes the oldest first. Partial, so it holds
 * only the events still waiting for a message.
 */
export async function up(db: AnyDb): Promise<void> {
  await sql`create index delivery_events_unmatched_received
    on delivery_events (received_at, event_key) where message_id is null`.execute(db);
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('delivery_events_unmatched_received').execute();
}
