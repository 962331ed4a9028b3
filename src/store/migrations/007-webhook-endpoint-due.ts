import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * The dispatcher claims due status webhooks endpoint by endpoint (so one slow endpoint cannot
 * hold back the others); this index finds an endpoint's oldest due deliveries without reading
 * its delivered history.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createIndex('webhook_deliveries_endpoint_due')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'status', 'next_attempt_at'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_endpoint_due').execute();
}
