import type { Insertable, Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * SQLite allows 32,766 bound parameters per statement (PostgreSQL 65,535); multi-row inserts are
 * split so a 1,000-message batch with many recipients never hits that limit.
 */
const MAX_PARAMETERS = 30_000;

export async function insertChunked<T extends keyof Database & string>(
  db: Kysely<Database>,
  table: T,
  rows: Insertable<Database[T]>[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0] as object).length;
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / columns));
  for (let i = 0; i < rows.length; i += size) {
    // biome-ignore lint/suspicious/noExplicitAny: Kysely cannot type a table chosen at run time
    const part = rows.slice(i, i + size) as any;
    await db.insertInto(table).values(part).execute();
  }
}

export function chunks<T>(items: T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
