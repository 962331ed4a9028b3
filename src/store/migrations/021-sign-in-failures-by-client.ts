import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * Failed console sign-ins counted per user and client address, so that wrong passwords sent
 * from one address lock that address out of the account, not everyone: before, anyone who knew
 * an address could keep its owner (the only admin included) out with 5 guesses every 15 minutes.
 * The user's own count (`console_users.failed_sign_ins`) stays, for a higher limit over all
 * addresses (guessing spread over many). Rows are removed once they are stale.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('console_sign_in_failures')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('locked_until', 'bigint')
    .addColumn('last_failed_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('console_sign_in_failures_pk', ['user_id', 'client'])
    .execute();
  await db.schema
    .createIndex('console_sign_in_failures_last')
    .on('console_sign_in_failures')
    .column('last_failed_at')
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('console_sign_in_failures').execute();
}
