import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * `messages_due` (next_attempt_at) holds exactly the rows of `messages_claim` (priority,
 * next_attempt_at), under the same WHERE clause: every accepted message was written into both,
 * and taken out of both when it was sent. Its readers (the pending gauge, the counts by status,
 * the unsent view's "waiting" part) now read `messages_claim`, one range per priority where they
 * need a range. One index fewer to keep on the path of every message.
 */
export async function up(db: AnyDb): Promise<void> {
  await sql`drop index if exists messages_due`.execute(db);
}

export async function down(db: AnyDb): Promise<void> {
  await sql`create index messages_due on messages (next_attempt_at)
    where status in ('queued', 'scheduled', 'sending')`.execute(db);
}
