import { CompiledQuery, type Insertable, type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Inserting many rows at once, the two ways the engines' dialects use (`Dialect.insertRows`,
 * `Dialect.insertIntoTables`).
 *
 * On PostgreSQL: one statement whose only parameter is the rows as JSON, typed by the table's own
 * row type (`INSERT … SELECT cols FROM json_populate_recordset(null::table, $1)`). A multi-row
 * `VALUES` list has one placeholder per value: for a 1,000-message batch the API spent most of
 * its time building the 16,000-parameter statement and PostgreSQL parsing it. `JSON.stringify`
 * is native code, and the statement text is the same whatever the number of rows.
 *
 * On SQLite (in-process, no parse over the wire): a multi-row `VALUES` list, split to stay under
 * its parameter limit; prepared statements are cached by text (engine/sqlite.ts).
 */

/** SQLite allows 32,766 bound parameters per statement. */
const SQLITE_MAX_PARAMETERS = 30_000;

/**
 * SQLite: its JSON functions re-parse each row once per column, slower here than binding.
 * The SQL is written here rather than built by Kysely: for a 1,000-message batch, Kysely's
 * query building took about a fifth of the API's time (profiled), and the text repeats per
 * row count, so the prepared-statement cache serves it.
 */
export async function insertRowsAsValues<T extends keyof Database & string>(
  db: Kysely<Database>,
  table: T,
  rows: Insertable<Database[T]>[],
  onConflict = '',
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0] as object);
  const size = Math.max(1, Math.floor(SQLITE_MAX_PARAMETERS / columns.length));
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const head = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values `;
  for (let i = 0; i < rows.length; i += size) {
    const part = rows.slice(i, i + size) as Record<string, unknown>[];
    const parameters: unknown[] = [];
    for (const row of part) for (const column of columns) parameters.push(row[column] ?? null);
    await db.executeQuery(
      CompiledQuery.raw(
        head + Array.from(part, () => tuple).join(', ') + (onConflict ? ` ${onConflict}` : ''),
        parameters,
      ),
    );
  }
}

/** PostgreSQL: the rows as one JSON parameter. */
export async function insertRowsFromJson<T extends keyof Database & string>(
  db: Kysely<Database>,
  table: T,
  rows: Insertable<Database[T]>[],
  onConflict = '',
): Promise<void> {
  if (rows.length === 0) return;
  await sql`${insertFromJsonSql(table, rows)} ${sql.raw(onConflict)}`.execute(db);
}

function insertFromJsonSql(table: string, rows: object[]) {
  const columns = sql.join(Object.keys(rows[0] as object).map((c) => sql.ref(c)));
  return sql`insert into ${sql.table(table)} (${columns})
    select ${columns} from json_populate_recordset(null::${sql.table(table)}, ${JSON.stringify(rows)}::json)`;
}

/** Rows for one table, for `insertIntoTables`. */
export interface Insertion {
  table: keyof Database & string;
  rows: object[];
}

export function insertion<T extends keyof Database & string>(
  table: T,
  rows: Insertable<Database[T]>[],
): Insertion {
  return { table, rows };
}

/** SQLite: one multi-row insert per table, in the caller's transaction. */
export async function insertIntoTablesOneByOne(
  db: Kysely<Database>,
  insertions: Insertion[],
): Promise<void> {
  for (const { table, rows } of insertions) {
    await insertRowsAsValues(db, table, rows as Insertable<Database[typeof table]>[]);
  }
}

/**
 * PostgreSQL: inserts into several tables in one statement (each insert a data-modifying `WITH`
 * part): one round trip, and atomic even outside a transaction. Tables have no foreign keys
 * between them, so the order of the parts does not matter.
 */
export async function insertIntoTablesAsOneStatement(
  db: Kysely<Database>,
  insertions: Insertion[],
): Promise<void> {
  const nonEmpty = insertions.filter((i) => i.rows.length > 0);
  if (nonEmpty.length === 0) return;
  const parts = nonEmpty.map(
    ({ table, rows }, i) => sql`${sql.raw(`t${i}`)} as (${insertFromJsonSql(table, rows)})`,
  );
  await sql`with ${sql.join(parts)} select 1`.execute(db);
}

export function chunks<T>(items: T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
