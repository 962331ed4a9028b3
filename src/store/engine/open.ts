import type { DatabaseHandle } from './handle.ts';
import { isPostgresUrl, openPostgres } from './postgres.ts';
import { openSqlite, type SqliteOpenOptions } from './sqlite.ts';

export interface OpenOptions extends SqliteOpenOptions {
  /** PostgreSQL connections per process. */
  poolSize?: number;
}

/** Opens the database a URL names: `postgres://…` (or `postgresql://…`), else `sqlite:<path>`. */
export function openDatabase(url: string, options: OpenOptions = {}): DatabaseHandle {
  if (isPostgresUrl(url)) return openPostgres(url, options.poolSize ?? 10);
  return openSqlite(url, options);
}
