import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from '../schema.ts';
import { countPostgresSubjectMatches } from '../search/count-subject-matches.ts';
import { gatherPostgresSubjectIndexStatistics } from '../search/index-subjects.ts';
import { addToPostgresSubjectIndex, postgresSubjectMatch } from '../search/subject-search.ts';
import { insertIntoTablesAsOneStatement, insertRowsFromJson } from '../write/insert-rows.ts';
import type { Channel, DatabaseHandle, Dialect } from './handle.ts';
import { prepareRepeatedWrites } from './prepared-statements.ts';

/**
 * The PostgreSQL engine: a connection pool per process, a transaction per write (row locks and
 * SKIP LOCKED do what SQLite's single writer lock does), and LISTEN/NOTIFY as a wake-up hint.
 *
 * Notifications are only ever hints: workers and caches also poll, so everything keeps working
 * behind PgBouncer in transaction mode, where LISTEN does not.
 */

export const postgresDialect: Dialect = {
  lockRowsForUpdate: (query) => query.forUpdate(),
  skipLocked: (query) => query.forUpdate().skipLocked(),
  async advisoryXactLock(trx, key) {
    await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
  },
  insertRows: insertRowsFromJson,
  insertIntoTables: insertIntoTablesAsOneStatement,
  multiTableInsertIsOneStatement: true,
  writesInWith: true,
  // PostgreSQL keeps statistics and picks its indexes by itself.
  throughIndex: (table) => table,
  indexHint: () => sql.raw(''),
  subjectIndexName: 'messages_subject_index',
  addToSubjectIndex: addToPostgresSubjectIndex,
  subjectMatch: postgresSubjectMatch,
  countSubjectMatches: countPostgresSubjectMatches,
  gatherSubjectIndexStatistics: gatherPostgresSubjectIndexStatistics,
  inByteOrder: (text) => sql`${text} collate "C"`,
  placeholder: (n) => `$${n}`,
  // One array parameter: the statement's text stays the same whatever the number of ids.
  inList: (ids, first) => ({ text: `= any($${first}::text[])`, params: [ids] }),
};

/**
 * Tegami's transactions rely on READ COMMITTED, PostgreSQL's default: a fresh snapshot per
 * statement, so a look made after waiting for a lock sees what the lock's holder committed (the
 * first API key, insert-first.ts), and a row updated meanwhile is read again instead of failing
 * the statement with a serialization error. A server, database or role whose
 * `default_transaction_isolation` is `repeatable read` or `serializable` would take that away, so
 * Tegami sets its own level, never relying on the default:
 *
 * - each new pool connection starts with this statement, before any query of Tegami's (one
 *   statement per connection, none per transaction), so statements outside a transaction have
 *   it too. Not the startup `options` (`-c default_transaction_isolation=…`): PgBouncer refuses
 *   a connection whose `options` set a parameter it does not track.
 * - each write transaction names it in its own BEGIN (the same statement, no extra round trip),
 *   since behind PgBouncer in transaction mode a session's setting does not follow the client
 *   from one server connection to the next.
 */
const READ_COMMITTED_SESSION =
  'set session characteristics as transaction isolation level read committed';

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** Schemas named in URLs (`?schema=`), by the Kysely instance that uses them. */
export const SCHEMAS = new WeakMap<Kysely<Database>, string>();

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** libpq's parameters that hold a secret, which a URL may give as `?password=…`. */
const SECRET_PARAMETERS = ['password', 'sslpassword'];

/** The URL without its password (`user:…@`, or `?password=`), for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of SECRET_PARAMETERS) {
      if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@').replace(/([?&](?:ssl)?password=)[^&#]*/gi, '$1***');
  }
}

export function parsePostgresUrl(url: string): { connectionString: string; schema: string | null } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  if (schema !== null && !SCHEMA_NAME.test(schema)) {
    throw new Error(`schema "${schema}" must be letters, digits and _ (not starting with a digit)`);
  }
  return { connectionString: parsed.toString(), schema };
}

/** int8 columns (our epoch-millisecond times, counts) as numbers, not strings. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    // biome-ignore lint/suspicious/noExplicitAny: pg's own overloads
    return pg.types.getTypeParser(oid, format as any);
  },
} as pg.CustomTypesConfig;

/** Hints to other processes are coalesced: at most one NOTIFY per channel in this window. */
const NOTIFY_COALESCE_MS = 10;
/** Caches that cannot hear notifications (PgBouncer) still see changes within this time. */
const CHANGE_POLL_MS = 1_000;

export interface PostgresOpenOptions {
  /** Connections in the pool. */
  poolSize: number;
  /** Prepare the writes each connection repeats (prepared-statements.ts). */
  prepare: boolean;
  /** `application_name` of every connection, unless the URL or PGAPPNAME sets one. */
  applicationName: string;
}

export function openPostgres(url: string, options: PostgresOpenOptions): DatabaseHandle {
  const { poolSize } = options;
  const parsed = parsePostgresUrl(url);
  const { schema } = parsed;
  // The URL's own `options` (server settings such as `-c statement_timeout=5000`) are kept
  // beside the schema's search path, in one `options`: pg lets the URL's replace the config's.
  const withoutOptions = new URL(parsed.connectionString);
  const urlOptions = withoutOptions.searchParams.get('options');
  withoutOptions.searchParams.delete('options');
  const connectionString = withoutOptions.toString();
  // Quoted, as the migrations create it: unquoted, PostgreSQL would fold `CamelCase` to
  // `camelcase`, a schema that does not exist.
  const serverOptions = [urlOptions, schema ? `-c search_path="${schema}"` : null].filter(Boolean);
  const client: pg.ClientConfig = {
    connectionString,
    types,
    connectionTimeoutMillis: 10_000,
    // A fallback: an `application_name` in the URL, or PGAPPNAME, names the connections instead.
    fallback_application_name: options.applicationName,
    ...(serverOptions.length > 0 ? { options: serverOptions.join(' ') } : {}),
  };
  const pool = new pg.Pool({ ...client, max: poolSize });
  // An idle connection that breaks (the server restarted) is dropped from the pool; the next
  // query opens a new one. Without a listener this error would end the process.
  pool.on('error', () => {});
  // The same for a connection that is checked out (inside a transaction) when the server goes
  // away: the query in flight fails and is handled; the client's own 'error' event must not end
  // the process.
  pool.on('connect', (connection) => {
    connection.on('error', () => {});
    // Queued before the query the connection was opened for (READ_COMMITTED_SESSION). A failure
    // here is a broken connection, which that query meets too.
    connection.query(READ_COMMITTED_SESSION).catch(() => {});
    if (options.prepare) prepareRepeatedWrites(connection);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (schema) SCHEMAS.set(db, schema);

  let changes = 0;
  const changePoll = setInterval(() => changes++, CHANGE_POLL_MS);
  changePoll.unref();
  const listener = new Listener(client);
  listener.on('tegami_changes', () => changes++);
  const pendingNotify = new Set<Channel>();

  return {
    db,
    engine: 'postgres',
    dialect: postgresDialect,
    // A few group commits in flight, leaving pool connections for reads and claims.
    writeConcurrency: Math.max(1, Math.min(4, poolSize - 2)),
    writeTransaction: (work, options) =>
      options?.asyncCommit
        ? db.connection().execute(async (conn) => {
            // For this transaction only, and in the same round trip as BEGIN (a query without
            // parameters may hold two statements): COMMIT returns before its WAL is flushed,
            // which the WAL writer does within three times wal_writer_delay.
            await sql`begin isolation level read committed; set local synchronous_commit = off`.execute(
              conn,
            );
            try {
              const result = await work(conn);
              await sql`commit`.execute(conn);
              return result;
            } catch (error) {
              await sql`rollback`.execute(conn).catch(() => {});
              throw error;
            }
          })
        : db.transaction().setIsolationLevel('read committed').execute(work),
    readSnapshot: (work) =>
      db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(work),
    externalChangeCounter: () => changes,
    async readOnly() {
      // What a new transaction on a pool connection would be: on a standby always `on`.
      const result = await pool.query<{ transaction_read_only: string }>(
        'show transaction_read_only',
      );
      return result.rows[0]?.transaction_read_only === 'on';
    },
    notify(channel) {
      if (pendingNotify.has(channel)) return;
      pendingNotify.add(channel);
      setTimeout(() => {
        pendingNotify.delete(channel);
        pool.query('select pg_notify($1, $2)', [channel, '']).catch(() => {
          // A hint only: pollers find the work anyway.
        });
      }, NOTIFY_COALESCE_MS).unref();
    },
    async announce(channel) {
      await pool.query('select pg_notify($1, $2)', [channel, '']);
    },
    listen: (channel, handler) => listener.on(channel, handler),
    async close() {
      clearInterval(changePoll);
      await listener.close();
      await db.destroy();
    },
  };
}

/**
 * One dedicated connection per process for LISTEN, opened on first use and reopened with backoff
 * when it breaks (for example while PostgreSQL restarts).
 */
class Listener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, Set<() => void>>();
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = 250;
  private closed = false;

  constructor(private readonly config: pg.ClientConfig) {}

  on(channel: Channel, handler: () => void): () => void {
    const set = this.handlers.get(channel) ?? new Set();
    set.add(handler);
    const isNew = !this.handlers.has(channel);
    this.handlers.set(channel, set);
    if (!this.client && !this.retryTimer) this.connect();
    else if (isNew && this.client) this.client.query(`listen ${channel}`).catch(() => {});
    return () => set.delete(handler);
  }

  private connect(): void {
    if (this.closed) return;
    const client = new pg.Client(this.config);
    this.client = client;
    const fail = () => {
      if (this.client !== client) return;
      this.client = null;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', fail);
    client.on('end', fail);
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler();
    });
    client
      .connect()
      .then(async () => {
        for (const channel of this.handlers.keys()) await client.query(`listen ${channel}`);
        this.retryMs = 250;
        // Anything may have happened while we were not listening.
        for (const set of this.handlers.values()) for (const handler of set) handler();
      })
      .catch(fail);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('end');
      client.removeAllListeners('error');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
