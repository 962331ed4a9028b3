import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * The SendGrid event relay: a unit's old Event Webhook URL with the key pair Tegami signs its
 * posts with, and the queue of delivery events waiting to be posted there (one row per event,
 * posted in batches, retried like status webhooks).
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('sendgrid_event_relays')
    .addColumn('unit_id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull())
    /** Base64 DER (SubjectPublicKeyInfo), as SendGrid shows its verification key. */
    .addColumn('public_key', 'text', (c) => c.notNull())
    /** Base64 DER (PKCS #8); a secret, never shown. */
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('sendgrid_relay_events')
    .addColumn('event_key', 'text', (c) => c.primaryKey())
    .addColumn('unit_id', 'text', (c) => c.notNull())
    /** The X-Message-Id the application was answered with, for the event's sg_message_id. */
    .addColumn('x_message_id', 'text', (c) => c.notNull())
    /** pending, or failed once its retry window ended; posted rows are deleted. */
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('queued_at', 'bigint', (c) => c.notNull())
    /** Due time while pending (the lease's end while a post is under way); null once failed. */
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('last_http_status', 'integer')
    .addColumn('last_error', 'text')
    .execute();
  await db.schema
    .createIndex('sendgrid_relay_events_due')
    .on('sendgrid_relay_events')
    .columns(['status', 'next_attempt_at'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('sendgrid_relay_events').execute();
  await db.schema.dropTable('sendgrid_event_relays').execute();
}
