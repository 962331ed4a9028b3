import type { DatabaseHandle } from './handle.ts';
import { isPostgresUrl, openPostgres } from './postgres.ts';
import { openSqlite, type SqliteOpenOptions } from './sqlite.ts';

export interface OpenOptions extends SqliteOpenOptions {
  /** PostgreSQL connections per process. */
  poolSize?: number;
  /**
   * PostgreSQL: run the writes a connection repeats as prepared statements (default on; off
   * behind a pooler in transaction mode that does not keep them, see docs/deploy.md).
   */
  postgresPrepare?: boolean;
}

/** Opens the database a URL names: `postgres://…` (or `postgresql://…`), else `sqlite:<path>`. */
export function openDatabase(url: string, options: OpenOptions = {}): DatabaseHandle {
  if (isPostgresUrl(url))
    return openPostgres(url, {
      poolSize: options.poolSize ?? 10,
      prepare: options.postgresPrepare ?? true,
    });
  return openSqlite(url, options);
}
