import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/** Leases for jobs that must run once across all processes (retention, pruning). */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('leader_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('leader_leases').execute();
}
