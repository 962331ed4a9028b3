import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * An endpoint's log of status webhooks, paged and filtered (`GET
 * /v1/webhook-endpoints/{id}/deliveries?status=…&message_id=…`): each status webhook names the
 * message it is about in a column of its own, filled from the body for those queued before, and
 * two indexes read a page of one status, or of one message, without reading the rest of the
 * endpoint's log (the endpoint's `(endpoint_id, id)` index serves the unfiltered list).
 */
export async function up(db: AnyDb): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema.alterTable('webhook_deliveries').addColumn('message_id', 'text').execute();
  if (postgres) {
    await sql`update webhook_deliveries
      set message_id = payload::jsonb #>> '{data,message_id}'`.execute(db);
  } else {
    await sql`update webhook_deliveries
      set message_id = json_extract(payload, '$.data.message_id')`.execute(db);
  }
  await db.schema
    .createIndex('webhook_deliveries_endpoint_status')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'status', 'id'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_message')
    .on('webhook_deliveries')
    .columns(['message_id', 'endpoint_id', 'id'])
    .execute();
  // Every row was rewritten and the column is new: without statistics until autovacuum comes
  // round, PostgreSQL may read a page of the log through another index and sort it.
  if (postgres) await sql`analyze webhook_deliveries`.execute(db);
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_message').execute();
  await db.schema.dropIndex('webhook_deliveries_endpoint_status').execute();
  await db.schema.alterTable('webhook_deliveries').dropColumn('message_id').execute();
}
