import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * The console's users (passwords as scrypt hashes) and their server-side sessions (the SHA-256
 * of the cookie's token, never the token), see domain/console-users.ts. And the index the
 * console's overview reads the last hour's attempts through (delivery events by arrival have
 * one since 011).
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('console_users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    // JSON array of unit ids; null: every unit.
    .addColumn('unit_ids', 'text')
    .addColumn('can_read_bodies', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('failed_sign_ins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('console_sessions')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('unit_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('console_sessions_user')
    .on('console_sessions')
    .column('user_id')
    .execute();
  await db.schema.createIndex('attempts_started').on('attempts').column('started_at').execute();
}
