import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * Message priority (domain/priority.ts): each message's rank (0 high, 1 normal, 2 bulk; existing
 * mail is normal), and the default an API key gives the mail submitted without one (a unit's
 * default lives with its other settings, in unit_alert_settings' JSON).
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .alterTable('messages')
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  // The claim reads each priority's due mail in due order from this index; like `messages_due`
  // it holds only mail still to send, and its WHERE clause is repeated literally by the claim.
  await sql`create index messages_claim on messages (priority, next_attempt_at)
    where status in ('queued', 'scheduled', 'sending')`.execute(db);
  await db.schema.alterTable('api_keys').addColumn('default_priority', 'text').execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('api_keys').dropColumn('default_priority').execute();
  await sql`drop index messages_claim`.execute(db);
  await db.schema.alterTable('messages').dropColumn('priority').execute();
}
