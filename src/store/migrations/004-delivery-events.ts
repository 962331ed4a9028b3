import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/** Delivery events from providers, and each recipient's delivery status derived from them. */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('delivery_events')
    // `sendgrid:<sg_event_id>`: the de-duplication key (SendGrid retries and repeats events).
    .addColumn('event_key', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('email_normalized', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('provider_message_id', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('delivery_events_message')
    .on('delivery_events')
    .columns(['message_id', 'occurred_at'])
    .execute();
  await sql`create index delivery_events_unmatched on delivery_events (provider_message_id)
    where message_id is null`.execute(db);
  // PostgreSQL refuses an index entry over ~2.7 kB, and the first releases with the SendGrid
  // provider kept an X-Message-Id of any length (an odd answer's): one such attempt stopped the
  // upgrade here. Ids over 256 characters are not kept, as the provider has done since
  // (SendGrid's are 22), on both engines alike.
  await sql`update attempts set provider_message_id = null
    where length(provider_message_id) > 256`.execute(db);
  await db.schema
    .createIndex('attempts_provider_message_id')
    .on('attempts')
    .column('provider_message_id')
    .execute();

  await db.schema.alterTable('recipients').addColumn('delivery_status', 'text').execute();
  await db.schema.alterTable('recipients').addColumn('delivery_status_at', 'bigint').execute();
  await db.schema.alterTable('recipients').addColumn('delivery_event_key', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  for (const column of ['delivery_status', 'delivery_status_at', 'delivery_event_key']) {
    await db.schema.alterTable('recipients').dropColumn(column).execute();
  }
  await db.schema.dropIndex('attempts_provider_message_id').execute();
  await db.schema.dropTable('delivery_events').execute();
}
