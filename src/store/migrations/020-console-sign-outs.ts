import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * How many times every session of a console user was ended at once (`tegami users sign-out`,
 * the console's "Sign out everywhere"). A sign-in reads it before it checks the password and
 * inserts its session only while it is unchanged, so a sign-in whose check was under way when the
 * sessions were ended gets none. A counter rather than a time: the processes' clocks need not
 * agree. Existing users start at 0.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .alterTable('console_users')
    .addColumn('sign_outs', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('console_users').dropColumn('sign_outs').execute();
}
