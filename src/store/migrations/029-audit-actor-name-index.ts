import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * The audit log's actor filter finds an actor by the name each event kept with it (a key's name,
 * a console user's lower-cased e-mail, an OS user: readActorFilter), as well as by id. Only the
 * id had an index (`audit_events_actor`, `actor_id, id`), so a name that acted rarely, long ago
 * or never was looked for by reading the log backwards, all of it for a name that never acted
 * (`GET /v1/audit-events?actor=` 220–630 ms on SQLite, 80–120 ms on PostgreSQL with 200,000
 * events; docs/benchmarks.md, 2026-12-07). `audit_events_actor_name` holds each type and name's
 * events in id order: one range of it, read newest first, is a page of that name's events
 * (store/audit/list.ts). Built in the migration's transaction, once, at the upgrade: meanwhile
 * every write waits on SQLite (its write lock), the audit log's on PostgreSQL (200,000 events:
 * 0.5 s on SQLite, 1.3 s on PostgreSQL).
 */
export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createIndex('audit_events_actor_name')
    .on('audit_events')
    .columns(['actor_type', 'actor_name', 'id'])
    .execute();
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('audit_events_actor_name').execute();
}
