import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * A unit's sending limit counted for the whole cluster: every API process adds the messages it
 * accepts to the unit's row of the current minute, instead of each counting its own share (which
 * let a unit behind N API processes send N times its limit). Only PostgreSQL uses it; SQLite's
 * one API process counts in memory, and gets the table only so both engines have one schema.
 *
 * `used_before` is the count before the last change, so that one statement can say how much it
 * added (src/store/units/rate-windows.ts).
 *
 * On PostgreSQL the table is UNLOGGED: no WAL, so counting costs no fsync and the row's lock is
 * held for a moment only. A crash or a failover empties it, which lets a unit send at most one
 * more minute's worth; a count is worth nothing after its minute anyway.
 */
export async function up(db: AnyDb): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await sql`create ${sql.raw(postgres ? 'unlogged ' : '')}table if not exists unit_rate_windows (
    unit_id text not null,
    window_start bigint not null,
    used integer not null,
    used_before integer not null,
    primary key (unit_id, window_start)
  )`.execute(db);
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('unit_rate_windows').execute();
}
