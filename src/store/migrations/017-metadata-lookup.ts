import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * PostgreSQL: the metadata look-up index holds a value's first 200 characters
 * (METADATA_VALUE_PREFIX in store/messages/metadata.ts), not the whole value. An index entry may
 * not exceed ~2.7 kB there, and a metadata value may be ~10 kB (SendGrid's custom_args), so the
 * old index (key, value, message_id) made PostgreSQL refuse such a message: the API answered 503
 * to a request it had validated. Searches compare the prefix (for the index) and the whole value.
 * SQLite keeps its index: its entries may be of any size. The index is built in the migration's
 * transaction (not CONCURRENTLY, which a transaction cannot do): on a large table, submissions
 * wait while it is built, once, at the upgrade.
 */
export async function up(db: AnyDb): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`drop index message_metadata_lookup`.execute(db);
  await sql`create index message_metadata_lookup
    on message_metadata (key, substr(value, 1, 200), message_id)`.execute(db);
}
