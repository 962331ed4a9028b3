import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * When the event that made a suppression entry occurred (`event_occurred_at`, epoch ms), so the
 * entry can be the earliest event's whatever order the events arrive in
 * (store/events/suppress-addresses.ts): a later-arriving event that occurred earlier takes the
 * entry over, where the entry used to keep whichever event came first.
 *
 * Entries of events are filled from their event. An entry whose event is gone (pruned with its
 * message) gets the time it was recorded, `created_at`: its event occurred no later than that,
 * and an entry so old is not taken over by an event that occurs from now on. Entries added by
 * hand keep null: they have no event, and events never change them. An entry of an event that a
 * process of an earlier release records beside this one has null too, read as "latest": the
 * next event for it, of this release, takes it over.
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema.alterTable('suppressions').addColumn('event_occurred_at', 'bigint').execute();
  await sql`update suppressions
    set event_occurred_at = coalesce(
      (select e.occurred_at from delivery_events e where e.event_key = suppressions.event_key),
      created_at)
    where source = 'event'`.execute(db);
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('suppressions').dropColumn('event_occurred_at').execute();
}
