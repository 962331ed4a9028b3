import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * An endpoint's secret can be rotated without a gap: the secret it replaced keeps signing every
 * post (next to the new one) until `previous_secret_expires_at`, so a receiver verifies whether
 * or not it has the new secret yet. Both are null when no rotated-out secret is kept; existing
 * endpoints have none.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('webhook_endpoints').addColumn('previous_secret', 'text').execute();
  await db.schema
    .alterTable('webhook_endpoints')
    .addColumn('previous_secret_expires_at', 'bigint')
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema
    .alterTable('webhook_endpoints')
    .dropColumn('previous_secret_expires_at')
    .execute();
  await db.schema.alterTable('webhook_endpoints').dropColumn('previous_secret').execute();
}
