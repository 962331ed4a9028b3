import Database from 'better-sqlite3';
import pg from 'pg';
import { parsePostgresUrl } from '../src/store/engine/postgres.ts';

/** Read-only SQL against the database under test, SQLite or PostgreSQL. */
export async function openReader(url: string) {
  if (url.startsWith('sqlite:')) {
    const sqlite = new Database(url.slice('sqlite:'.length), { readonly: true });
    return {
      all: async <T>(text: string) => sqlite.prepare(text).all() as T[],
      close: async () => sqlite.close(),
    };
  }
  const { connectionString, schema } = parsePostgresUrl(url);
  const client = new pg.Client({
    connectionString,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  return {
    all: async <T>(text: string) =>
      (await client.query(text)).rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v,
          ]),
        ),
      ) as T[],
    close: () => client.end(),
  };
}
