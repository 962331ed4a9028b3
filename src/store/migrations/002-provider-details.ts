import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * What a provider said, kept on each attempt so an operator can tell at a glance whether a failure
 * was ours, the message's or the provider's; and each worker's view of each provider's health.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('attempts').addColumn('provider_fault', 'text').execute();
  await db.schema.alterTable('attempts').addColumn('provider_errors', 'text').execute();
  await db.schema.alterTable('attempts').addColumn('rate_limit', 'text').execute();
  await db.schema.alterTable('attempts').addColumn('network_error', 'text').execute();

  await db.schema
    .createTable('provider_health')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('reporter', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('next_check_at', 'bigint')
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('provider_health_pk', ['provider', 'reporter'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('provider_health').execute();
  for (const column of ['provider_fault', 'provider_errors', 'rate_limit', 'network_error']) {
    await db.schema.alterTable('attempts').dropColumn(column).execute();
  }
}
