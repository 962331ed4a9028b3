import { type Kysely, type MigrationResultSet, Migrator, PostgresAdapter, sql } from 'kysely';
import { migrations } from '../migrations/index.ts';
import type { Database } from '../schema.ts';
import { SCHEMAS } from './postgres.ts';

/** Running the migrations (src/store/migrations/), on either engine. */

function migrator(db: Kysely<Database>): Migrator {
  const schema = SCHEMAS.get(db);
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // Kysely looks for its bookkeeping tables in any schema unless told which one: name it, or
    // a second Tegami schema in the same database would find the first one's tables.
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const runner = migrator(db);
  const applied: string[] = [];
  // Two processes starting at once on a new database may race for the migration lock; the
  // loser retries once the winner is done.
  for (let attempt = 1; ; attempt++) {
    // Several processes creating the same new schema at once: all but one fail, then retry.
    const prepared = await prepareSchema(db).then(
      () => null,
      (error: unknown) => error,
    );
    const { error, committed } = prepared
      ? { error: prepared, committed: [] }
      : await applyPending(db, runner);
    applied.push(...committed);
    if (!error) return applied;
    if (attempt >= 5) throw error;
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}

/**
 * Every pending migration, each whole or not at all. PostgreSQL: all of them in one transaction.
 * SQLite: one transaction per migration, with its record (see TransactionalDdlSqliteAdapter), so
 * an upgrade cut off part-way (a full disk, a stop, a crash) goes on from the last migration it
 * committed, and a transaction holds one migration's changed pages at a time (they stay in
 * memory until it commits: `cache_spill = false`).
 */
async function applyPending(
  db: Kysely<Database>,
  runner: Migrator,
): Promise<{ error: unknown; committed: string[] }> {
  const succeeded = (set: MigrationResultSet) =>
    (set.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const all = await runner.migrateToLatest();
    return { error: all.error, committed: all.error ? [] : succeeded(all) };
  }
  const committed: string[] = [];
  for (;;) {
    const step = await runner.migrateUp();
    if (step.error) return { error: step.error, committed };
    const done = succeeded(step);
    if (done.length === 0) return { error: undefined, committed };
    committed.push(...done);
  }
}

/**
 * Applies the migrations up to `name` and no further: a database as an older version left it,
 * for the tests that check a migration on existing data.
 */
export async function migrateTo(db: Kysely<Database>, name: string): Promise<void> {
  await prepareSchema(db);
  const { error } = await migrator(db).migrateTo(name);
  if (error) throw error;
}

/**
 * PostgreSQL with `?schema=NAME`: the schema must exist before the first migration. One that
 * exists is left alone: `create schema if not exists` needs CREATE on the database even then,
 * which a user given only its own schema of a shared database does not have.
 */
async function prepareSchema(db: Kysely<Database>): Promise<void> {
  const schema = SCHEMAS.get(db);
  if (!schema) return;
  const found = await sql<{ found: boolean }>`select exists (
      select 1 from pg_catalog.pg_namespace where nspname = ${schema}) as found`.execute(db);
  if (found.rows[0]?.found) return;
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
}

export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

/**
 * The migrations this database records as applied, known to this release or not ([] for a new
 * database). One this release does not know was applied by a newer release.
 */
export async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const schema = SCHEMAS.get(db);
  const name = schema ? `${schema}.kysely_migration` : 'kysely_migration';
  // Asked of the catalog, not told by an error: servers word their errors in their own language.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const found = postgres
    ? await sql<{ found: string | null }>`select to_regclass(${name})::text as found`.execute(db)
    : await sql<{ found: string | null }>`select name as found from sqlite_master
        where type = 'table' and name = 'kysely_migration'`.execute(db);
  if (!found.rows[0]?.found) return [];
  const result = await sql<{ name: string }>`select name from ${sql.table(name)}`.execute(db);
  return result.rows.map((r) => r.name);
}

/** Migrations applied to this database that this release does not have (a newer one's). */
export function unknownMigrations(applied: string[]): string[] {
  return applied.filter((name) => !(name in migrations));
}

/** Migrations of this release that `applied` lacks, in order. */
export function missingMigrations(applied: string[]): string[] {
  const done = new Set(applied);
  return Object.keys(migrations).filter((name) => !done.has(name));
}
