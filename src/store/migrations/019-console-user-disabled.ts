import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * A console user can be disabled (`tegami users disable`): when, or null while enabled. Existing
 * users stay enabled. Kept as a time rather than a flag so `tegami users list` and the console
 * can say since when.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('console_users').addColumn('disabled_at', 'bigint').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('console_users').dropColumn('disabled_at').execute();
}
