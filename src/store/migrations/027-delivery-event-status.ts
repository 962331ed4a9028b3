import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * Each delivery event's delivery status, the one it sets for its recipient (`statusOfEvent` in
 * domain/recipient-state.ts, applied when the event is stored): `accepted`, `deferred`,
 * `delivered`, `blocked`, `bounced`, `dropped`, or null for engagement events. The status, not
 * SendGrid's bounce type: a reader then asks what the event did (`= 'blocked'`) without knowing
 * that SendGrid sends a block as a `bounce` of `type: "blocked"`, which a bounce type column
 * would leave every reader to apply again, as the overview's `like` on the payload did.
 *
 * Events stored before are filled here only if they are bounces, the one event whose status its
 * name does not tell: one `update` that reads every row once, in one scan, and writes only the
 * bounces (a few events in a hundred) instead of rewriting the whole table. Other earlier events
 * keep null; their status is their event's. The bounce type is read from the stored payload as
 * JSON, however it is spaced.
 */
export async function up(db: AnyDb): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema.alterTable('delivery_events').addColumn('delivery_status', 'text').execute();
  if (postgres) {
    // PostgreSQL's JSON functions refuse a document holding an escaped NUL (`\u0000`) or half of
    // a surrogate pair (`\ud83d` alone), which any field of an event but its ids may hold: each
    // becomes an escaped space, the same length and still JSON (only hex digits change), and a
    // type that held one was no `blocked` before and is none after.
    await sql`update delivery_events
      set delivery_status = case
        when regexp_replace(payload, ${UNREADABLE_ESCAPE}, ${'\\\\u0020'}, 'g')::json ->> 'type' = 'blocked'
          then 'blocked'
        else 'bounced' end
      where event = 'bounce'`.execute(db);
  } else {
    // SQLite's JSON functions refuse a document nested 1,000 levels deep or more ("malformed
    // JSON"), as an event could be before events were limited to 32 levels. Such a bounce keeps
    // no status, like one an earlier release's process stores: late matching reads its status
    // from the payload, and the overview counts it as bounced.
    await sql`update delivery_events
      set delivery_status = case
        when not json_valid(payload) then null
        when json_extract(payload, '$.type') = 'blocked' then 'blocked' else 'bounced' end
      where event = 'bounce'`.execute(db);
  }
}

/** An escaped NUL or surrogate half, as a PostgreSQL regular expression. */
const UNREADABLE_ESCAPE = '\\\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})';

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('delivery_events').dropColumn('delivery_status').execute();
}
