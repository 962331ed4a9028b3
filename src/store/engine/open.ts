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
  /**
   * PostgreSQL: how this process's connections are named in `pg_stat_activity` and the server's
   * logs (`tegami api`, `tegami worker`…), so a DBA can tell which process holds a lock. A URL's
   * own `application_name`, or PGAPPNAME, wins.
   */
  applicationName?: string;
}

/** Opens the database a URL names: `postgres://…` (or `postgresql://…`), else `sqlite:<path>`. */
export function openDatabase(url: string, options: OpenOptions = {}): DatabaseHandle {
  if (isPostgresUrl(url))
    return openPostgres(url, {
      poolSize: options.poolSize ?? 10,
      prepare: options.postgresPrepare ?? true,
      applicationName: options.applicationName ?? 'tegami',
    });
  return openSqlite(url, options);
}
