import { type Kysely, PostgresAdapter, sql } from 'kysely';
import { newId } from '../../domain/ids.ts';
import { subjectWordsVector } from '../search/subject-folding.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

function isPostgres(db: AnyDb): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * The operations layer: business units, the columns and indexes that answer "what has not been
 * sent, and why" without reading finished mail, bulk recoveries and the audit log.
 *
 * Existing keys, messages, webhook endpoints and hand-added suppressions go into a unit named
 * `default`.
 */
export async function up(db: AnyDb): Promise<void> {
  const postgres = isPostgres(db);
  const now = Date.now();
  const defaultUnitId = newId('unit');

  await db.schema
    .createTable('units')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db
    .insertInto('units')
    .values({ id: defaultUnitId, name: 'default', created_at: now })
    .execute();

  // Every key belongs to a unit (where its mail goes); an admin key also sees every unit.
  await db.schema
    .alterTable('api_keys')
    .addColumn('unit_id', 'text', (c) => c.notNull().defaultTo(defaultUnitId))
    .execute();
  await db.schema
    .alterTable('api_keys')
    .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  // A constant default makes the column free to add on both engines (no table rewrite); every
  // new message names its unit explicitly.
  await db.schema
    .alterTable('messages')
    .addColumn('unit_id', 'text', (c) => c.notNull().defaultTo(defaultUnitId))
    .execute();
  // The last attempt's facts, kept on the message so filters and the unsent view need no join
  // with attempts: provider, error class, outcome and provider fault.
  for (const column of [
    'last_provider',
    'last_error_class',
    'last_outcome',
    'last_provider_fault',
  ]) {
    await db.schema.alterTable('messages').addColumn(column, 'text').execute();
  }
  // When it was dead-lettered; when the first delivery event for it arrived.
  await db.schema.alterTable('messages').addColumn('failed_at', 'bigint').execute();
  await db.schema.alterTable('messages').addColumn('confirmed_at', 'bigint').execute();

  await sql`update messages set
      last_provider = (select a.provider from attempts a
        where a.message_id = messages.id and a.number = messages.attempt_count),
      last_error_class = (select a.error_class from attempts a
        where a.message_id = messages.id and a.number = messages.attempt_count),
      last_outcome = (select a.outcome from attempts a
        where a.message_id = messages.id and a.number = messages.attempt_count),
      last_provider_fault = (select a.provider_fault from attempts a
        where a.message_id = messages.id and a.number = messages.attempt_count)
    where attempt_count > 0`.execute(db);
  await sql`update messages set failed_at = updated_at where status = 'failed'`.execute(db);
  await sql`update messages set confirmed_at =
      (select min(e.received_at) from delivery_events e where e.message_id = messages.id)
    where status = 'sent'`.execute(db);

  await db.schema.createIndex('messages_unit').on('messages').columns(['unit_id', 'id']).execute();
  // The unsent view reads partial indexes that hold only mail in trouble, never sent, cancelled
  // or fresh mail, so they do not grow as sent mail piles up and cost nothing on the way in:
  // dead letters and messages waiting after a failed attempt. `messages_unsent` lists them
  // newest first; `messages_unsent_summary` is in the order the summary groups by, so counting
  // needs no sort. (Mail never tried and waiting too long is read from `messages_due`.) The
  // condition is a literal: SQLite uses a partial index only when the query repeats it.
  await sql`create index messages_unsent on messages (id, status, last_outcome,
      last_provider_fault, failed_at)
    where status = 'failed' or (status in ('queued', 'sending') and last_outcome is not null)`.execute(
    db,
  );
  await sql`create index messages_unsent_summary on messages (status, unit_id, last_provider,
      last_error_class, last_outcome, last_provider_fault)
    where status = 'failed' or (status in ('queued', 'sending') and last_outcome is not null)`.execute(
    db,
  );
  // Sent, and no delivery event yet: "accepted, then silence", by when it was sent.
  await sql`create index messages_unconfirmed on messages (sent_at, id)
    where status = 'sent' and confirmed_at is null`.execute(db);

  // A recipient's domain, lower-cased: `recipient=@example.jp` reads this index, not every row.
  await db.schema.alterTable('recipients').addColumn('email_domain', 'text').execute();
  if (postgres) {
    await sql`update recipients set email_domain = split_part(email_normalized, '@', 2)`.execute(
      db,
    );
  } else {
    await sql`update recipients
      set email_domain = substr(email_normalized, instr(email_normalized, '@') + 1)`.execute(db);
  }
  await db.schema
    .createIndex('recipients_domain')
    .on('recipients')
    .columns(['email_domain', 'message_id'])
    .execute();

  // Subject search by words. PostgreSQL: an expression index over the subject's words (Latin
  // accents folded, see subject-folding.ts), kept by PostgreSQL itself. SQLite: an FTS5 table filled in the background by search/index-subjects.ts (doing
  // it in the insert would cost ~20 µs per message on the API's critical path); rows deleted by
  // retention leave it through the trigger. Searches read the stored message id, not the rowid,
  // because VACUUM may renumber the rowids of a table without an INTEGER PRIMARY KEY.
  if (postgres) {
    await sql`create index messages_subject_words on messages
      using gin (${subjectWordsVector(sql.ref('subject'))})`.execute(db);
  } else {
    // remove_diacritics 2: the same folding as subjectWords() (NFKD, marks removed).
    await sql`create virtual table messages_fts using fts5(subject, message_id unindexed,
      tokenize = 'unicode61 remove_diacritics 2')`.execute(db);
    await sql`create trigger messages_fts_delete after delete on messages begin
        delete from messages_fts where rowid = old.rowid and message_id = old.id;
      end`.execute(db);
  }
  await db.schema
    .createTable('search_index_state')
    .addColumn('name', 'text', (c) => c.primaryKey())
    // The last message id indexed.
    .addColumn('indexed_through', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .alterTable('webhook_endpoints')
    .addColumn('unit_id', 'text', (c) => c.notNull().defaultTo(defaultUnitId))
    .execute();
  // 1: every unit's events (an endpoint an admin key created for all units).
  await db.schema
    .alterTable('webhook_endpoints')
    .addColumn('all_units', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  // Whose suppression it is to see and remove: the unit whose mail bounced, or whose key added it.
  await db.schema.alterTable('suppressions').addColumn('unit_id', 'text').execute();
  await sql`update suppressions set unit_id = ${defaultUnitId} where source = 'api'`.execute(db);
  await sql`update suppressions set unit_id = (select m.unit_id from delivery_events e
      join messages m on m.id = e.message_id where e.event_key = suppressions.event_key)
    where source = 'event'`.execute(db);
  await db.schema
    .createIndex('suppressions_unit')
    .on('suppressions')
    .columns(['unit_id', 'created_at', 'email_normalized'])
    .execute();

  await db.schema
    .createTable('recoveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // The unit of the key that started it; null when an admin key started it for all units.
    .addColumn('unit_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    // The filter as given (JSON), for people; the set itself is in recovery_items.
    .addColumn('filter', 'text', (c) => c.notNull())
    .addColumn('rate_per_s', 'integer')
    // running, done, cancelled or failed
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('matched', 'integer', (c) => c.notNull())
    .addColumn('done', 'integer', (c) => c.notNull())
    .addColumn('skipped', 'integer', (c) => c.notNull())
    // JSON: skipped messages by reason
    .addColumn('skipped_reasons', 'text', (c) => c.notNull())
    // The last message id worked through: the next chunk starts after it.
    .addColumn('cursor', 'text')
    // JSON: who started it
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('error', 'text')
    // The process working on it, until when (see recovery-runner.ts).
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('recoveries_state')
    .on('recoveries')
    .columns(['state', 'id'])
    .execute();
  await db.schema
    .createTable('recovery_items')
    .addColumn('recovery_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    // pending, done or skipped
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addPrimaryKeyConstraint('recovery_items_pk', ['recovery_id', 'message_id'])
    .execute();
  // A message waits in at most one recovery at a time: a second recovery started over the same
  // mail skips it ("in another recovery") instead of acting on it twice.
  await sql`create unique index recovery_items_pending on recovery_items (message_id)
    where state = 'pending'`.execute(db);

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    // key, cli or console
    .addColumn('actor_type', 'text', (c) => c.notNull())
    // the key id, the OS user, the console user
    .addColumn('actor_id', 'text', (c) => c.notNull())
    .addColumn('actor_name', 'text')
    // The unit the action concerned; null for actions on every unit (an admin's).
    .addColumn('unit_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    // JSON: the filter of a bulk action, or other details
    .addColumn('filter', 'text')
    // JSON: matched, done, skipped, ...
    .addColumn('counts', 'text')
    .execute();
  await db.schema
    .createIndex('audit_events_unit')
    .on('audit_events')
    .columns(['unit_id', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_actor')
    .on('audit_events')
    .columns(['actor_id', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_action')
    .on('audit_events')
    .columns(['action', 'id'])
    .execute();

  // An operator asked for a provider probe now (POST /v1/providers/{name}/probe); workers of
  // that provider whose circuit is open probe at their next look instead of at the next interval.
  await db.schema
    .createTable('provider_probe_requests')
    .addColumn('provider', 'text', (c) => c.primaryKey())
    .addColumn('requested_at', 'bigint', (c) => c.notNull())
    .execute();
}
