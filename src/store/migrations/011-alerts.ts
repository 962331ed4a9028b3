import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * Built-in alerts: each alert from when it fired to when it resolved, the notifications about
 * them (queued, so a slow Slack never blocks the rules), and each unit's own Slack channel and
 * thresholds. Plus two small indexes the rules read instead of whole tables: dead letters by
 * when they failed, and delivery events by when they arrived.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // The rule for one unit or provider: `delivery_delay:unit_…`, `provider_failing:sendgrid`.
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('unit_id', 'text')
    .addColumn('provider', 'text')
    .addColumn('fault', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('hint', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('ended_at', 'bigint')
    .addColumn('last_notified_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // At most one firing alert per rule and unit or provider, whichever process evaluates.
  await sql`create unique index alerts_firing on alerts (key) where state = 'firing'`.execute(db);
  await db.schema
    .createIndex('alerts_started')
    .on('alerts')
    .columns(['started_at', 'id'])
    .execute();

  await db.schema
    .createTable('alert_notifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('alert_id', 'text')
    // firing, repeat, resolved
    .addColumn('kind', 'text', (c) => c.notNull())
    // slack or webhook
    .addColumn('channel', 'text', (c) => c.notNull())
    // Where it goes: which unit's channel (null: the global one). The URL itself is read when
    // sending, so a secret in it is stored once, with the unit's settings or in the environment.
    .addColumn('unit_id', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    // pending, sent, failed
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .execute();
  await sql`create index alert_notifications_due on alert_notifications (next_attempt_at)
    where state = 'pending'`.execute(db);
  await db.schema
    .createIndex('alert_notifications_alert')
    .on('alert_notifications')
    .columns(['alert_id'])
    .execute();

  await db.schema
    .createTable('unit_alert_settings')
    .addColumn('unit_id', 'text', (c) => c.primaryKey())
    .addColumn('slack_webhook_url', 'text')
    // JSON: { delay_s?, dead_letters?, unconfirmed?, muted? }
    .addColumn('overrides', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // Dead letters by when they failed, with what the rules and the gauges group them by: read
  // from the index alone.
  await sql`create index messages_failed_at on messages (failed_at, unit_id, last_error_class,
      last_provider_fault) where status = 'failed'`.execute(db);
  await db.schema
    .createIndex('delivery_events_received')
    .on('delivery_events')
    .columns(['received_at'])
    .execute();
}
