import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * PostgreSQL: recipients' pages keep 10% free. A recipient row changes in place several times
 * (pending, sent, its delivery status from events, back to pending when a recovery retries its
 * message) and never in an indexed column, so with room on its page the new version stays there
 * (a HOT update) and none of the three recipient indexes gets a new entry. On full pages every
 * such update wrote three index entries: requeueing 5,000 messages' recipients at 1,000,000
 * messages took 1,015 ms with 25,310 WAL records, with the free space 373 ms with 5,000.
 * Pages written from now on keep the space; existing ones get it when rewritten (VACUUM FULL,
 * pg_repack), which this does not do: it would lock the table. SQLite has no such setting.
 */
export async function up(db: AnyDb): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`alter table recipients set (fillfactor = 90)`.execute(db);
}
