import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/** The suppression list, and why a recipient was not sent to. */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('suppressions')
    .addColumn('email_normalized', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    // bounce, blocked, spamreport, unsubscribe or manual
    .addColumn('reason', 'text', (c) => c.notNull())
    // event or api
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('event_key', 'text')
    .addColumn('detail', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('suppressions_created')
    .on('suppressions')
    .columns(['created_at', 'email_normalized'])
    .execute();
  await db.schema.alterTable('recipients').addColumn('suppressed_reason', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('recipients').dropColumn('suppressed_reason').execute();
  await db.schema.dropTable('suppressions').execute();
}
