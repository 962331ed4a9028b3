import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe history, not today's types
type AnyDb = Kysely<any>;

/**
 * A suppression entry per address and unit, no longer one per address. With one entry per
 * address, a unit adding an address another unit had suppressed got that unit's entry (and
 * learnt that it was there, and since when); nothing was recorded for it, and when the other
 * unit removed its entry, mail of both was sent to the address again. Now each unit keeps its
 * own entry, which only it (and admins) can see and remove. An event not matched to a message
 * keeps one entry of no unit (null) per address, as before.
 *
 * Every existing entry stays as it is, with the unit it had: there was one per address, so no
 * two collide under the new key. The key is (email_normalized, coalesce(unit_id, '')): null
 * counts as one value, on both engines (a unique index over the bare column would let any number
 * of null-unit entries share an address). The list's keyset index gets the same expression as a
 * last column, so that entries of several units for one address at one time page in a fixed
 * order.
 */
export async function up(db: AnyDb): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // The primary key (email_normalized) goes; the column stays NOT NULL.
    await sql`alter table suppressions drop constraint suppressions_pkey`.execute(db);
    await sql`alter table suppressions alter column email_normalized set not null`.execute(db);
    await sql`drop index suppressions_created`.execute(db);
  } else {
    // SQLite cannot drop a primary key: the table is rebuilt, in one transaction (the
    // migration's own, engine/migrate.ts; a transaction of its own when run outside one).
    const rebuild = async (trx: AnyDb) => {
      await sql`create table suppressions_018 (
          email_normalized text not null,
          email text not null,
          reason text not null,
          source text not null,
          event_key text,
          detail text,
          created_at bigint not null,
          unit_id text
        )`.execute(trx);
      await sql`insert into suppressions_018 (email_normalized, email, reason, source, event_key,
          detail, created_at, unit_id)
        select email_normalized, email, reason, source, event_key, detail, created_at, unit_id
        from suppressions`.execute(trx);
      await sql`drop table suppressions`.execute(trx);
      await sql`alter table suppressions_018 rename to suppressions`.execute(trx);
      await sql`create index suppressions_unit
        on suppressions (unit_id, created_at, email_normalized)`.execute(trx);
    };
    if (db.isTransaction) await rebuild(db);
    else await db.transaction().execute(rebuild);
  }
  await sql`create unique index suppressions_entry
    on suppressions (email_normalized, (coalesce(unit_id, '')))`.execute(db);
  await sql`create index suppressions_created
    on suppressions (created_at, email_normalized, (coalesce(unit_id, '')))`.execute(db);
}
