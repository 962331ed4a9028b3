import { existsSync, mkdirSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { type DialectAdapter, Kysely, SqliteAdapter, SqliteDialect, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../schema.ts';
import { countSqliteSubjectMatches } from '../search/count-subject-matches.ts';
import { addToSqliteSubjectIndex, sqliteSubjectMatch } from '../search/subject-search.ts';
import { insertIntoTablesOneByOne, insertRowsAsValues } from '../write/insert-rows.ts';
import {
  BACKSTOP_FRAMES,
  type BackgroundCheckpoints,
  BULK_BACKSTOP_FRAMES,
  BULK_QUIET_MS,
  startBackgroundCheckpoints,
  WAL_SIZE_LIMIT_BYTES,
} from './background-checkpoints.ts';
import type { DatabaseHandle, Dialect } from './handle.ts';
import { busyDelayMs, isLockWait, OTHER_WRITER_WAIT_MS, waitingOnThread } from './sqlite-busy.ts';
import { registerSqliteFunctions } from './sqlite-functions.ts';
import { WalSync } from './wal-sync.ts';
import { SharedWriteLock } from './write-lock.ts';

/**
 * The SQLite engine: one connection per process, WAL, a write transaction that takes the write
 * lock up front, and a statement cache. One writer at a time serialises what PostgreSQL needs
 * row locks for, so the dialect's locks do nothing here.
 */

export const sqliteDialect: Dialect = {
  lockRowsForUpdate: (query) => query,
  skipLocked: (query) => query,
  advisoryXactLock: async () => {},
  insertRows: insertRowsAsValues,
  insertIntoTables: insertIntoTablesOneByOne,
  multiTableInsertIsOneStatement: false,
  writesInWith: false,
  throughIndex: (table, index) =>
    index === null
      ? table
      : // An aliased raw table expression: `messages as messages indexed by <index>`.
        (sql`${sql.raw(table)}`.as(
          sql.raw(`${table} indexed by ${index}`),
        ) as unknown as typeof table),
  indexHint: (index) => sql.raw(` indexed by ${index}`),
  subjectIndexName: 'messages_fts',
  addToSubjectIndex: addToSqliteSubjectIndex,
  subjectMatch: sqliteSubjectMatch,
  countSubjectMatches: countSqliteSubjectMatches,
  gatherSubjectIndexStatistics: async () => false,
  // BINARY, SQLite's default collation, compares text as bytes already.
  inByteOrder: (text) => text,
  placeholder: () => '?',
  // One JSON parameter, not one per id: the SQL text is the same for any number of ids, so one
  // cached statement serves every chunk size (a statement for 10,000 ids holds ~1.8 MB, one per
  // length would fill the statement cache), and no chunk meets the 32,766-parameter limit.
  inList: (ids) => ({ text: 'in (select value from json_each(?))', params: [JSON.stringify(ids)] }),
};

/**
 * SQLite's DDL is transactional (a CREATE, ALTER or DROP rolls back with the rest), but Kysely's
 * SqliteAdapter says it is not, so its Migrator ran each statement of a migration on its own. A
 * migration cut off between two of its statements (a full disk, a stop or a crash during an
 * upgrade) left part of its changes and no record of them, and every later start failed on them
 * ("duplicate column name"). Saying so makes the Migrator run a migration and its record in one
 * transaction (engine/migrate.ts); nothing else reads it.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class TegamiSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

export class DatabaseUrlError extends Error {}

export function sqlitePathFromUrl(url: string): string {
  if (!url.startsWith('sqlite:')) {
    throw new DatabaseUrlError(
      `unsupported database URL "${url.split(':')[0]}:…"; use sqlite:<path> or postgres://user@host:port/db`,
    );
  }
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  if (path === '')
    throw new DatabaseUrlError('the sqlite URL has no file path, e.g. sqlite:./data/tegami.db');
  return path;
}

export interface SqliteOpenOptions {
  /**
   * Shared with the other threads of this process that open the same file: they take turns
   * here, not in SQLite's busy handler (see write-lock.ts).
   */
  writeLock?: SharedWriteLock;
  /**
   * Who copies the WAL into the database file: this connection in its commits (`commits`,
   * SQLite's default, for short-lived commands), a thread this opens (`thread`, long-running
   * processes; see background-checkpoints.ts), or such a thread opened by another connection of
   * this process (`shared`).
   */
  checkpoints?: 'commits' | 'thread' | 'shared';
  /**
   * Where a write transaction's fsync runs: on libuv's thread pool (`thread`, the default) or on
   * the calling thread (`inline`; see WalSync.syncHere).
   */
  fsync?: 'inline' | 'thread';
  logger?: Logger;
}

export function openSqlite(url: string, options: SqliteOpenOptions = {}): DatabaseHandle {
  const path = sqlitePathFromUrl(url);
  if (path !== ':memory:') {
    ensureDirectory(dirname(resolve(path)));
    refuseOrphanedWal(path);
  }
  const sqlite = new SqliteDatabase(path);
  // WAL lets readers run beside the single writer. An acknowledged change must survive power
  // loss, so every commit's WAL pages are fsync'd before its caller hears back: write
  // transactions after their commit, off the thread or on it (wal-sync.ts, `fsync`), statements
  // that commit on their own on the thread right after they ran (durableAlone below). SQLite
  // itself commits with NORMAL, which fsyncs only around checkpoints. Without a WAL (an
  // in-memory database, a file system where SQLite cannot use one) SQLite's own FULL does it.
  // Commits are grouped by the caller (see write/commit-group.ts) to keep that affordable.
  const inWal = sqlite.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  sqlite.pragma(inWal ? 'synchronous = NORMAL' : 'synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // A transaction's changed pages stay in memory until it commits. With spilling on, a write
  // that changes more pages than the cache holds (2 MiB; a recovery chunk of thousands of
  // messages, each on a page of its own) wrote them to the WAL mid-transaction and read them back
  // for every later change: a chunk took 1.7x as long (measured). The cache returns to its size
  // after the commit.
  sqlite.pragma('cache_spill = false');
  // A statement that changes many rows keeps the original of each page it changes, to undo
  // itself alone on an error (the statement journal); in a temporary file, that was a write per
  // page (17% of a recovery chunk's update, measured). Memory is also where sorts and temporary
  // b-trees go now; the largest of ours hold a recovery's ids (a few MB).
  sqlite.pragma('temp_store = MEMORY');
  registerSqliteFunctions(sqlite);
  const writeLock = options.writeLock ?? new SharedWriteLock();
  let checkpoints: BackgroundCheckpoints | null = null;
  const checkpointMode = path === ':memory:' ? 'commits' : (options.checkpoints ?? 'commits');
  // Whether a thread copies the WAL; if none does, the writer checkpoints every 1,000 pages in
  // its commits (SQLite's default).
  let threadCopies = checkpointMode !== 'commits';
  if (threadCopies) sqlite.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  let autocheckpoint = 0;
  /**
   * The writer's own checkpoint for the next commit, in pages. With a thread: a backstop
   * (BACKSTOP_FRAMES), raised while a bulk run writes and until the thread has copied what it
   * wrote, so the first small commit after a recovery does not copy half a gigabyte itself.
   */
  const setAutocheckpoint = (bulk: boolean) => {
    const frames = !threadCopies
      ? 1000
      : bulk || writeLock.bulkWritingUntil() !== 0
        ? BULK_BACKSTOP_FRAMES
        : BACKSTOP_FRAMES;
    if (frames !== autocheckpoint && sqlite.open) {
      sqlite.pragma(`wal_autocheckpoint = ${frames}`);
      autocheckpoint = frames;
    }
  };
  setAutocheckpoint(false);
  if (checkpointMode === 'thread') {
    checkpoints = startBackgroundCheckpoints(
      path,
      writeLock,
      (copying) => {
        // Not copying: back to SQLite's default, this connection checkpoints in its commits.
        threadCopies = copying;
        setAutocheckpoint(false);
      },
      options.logger,
    );
  }
  // The log is named after the file as SQLite resolved it (symbolic links followed), not as
  // configured.
  const mainFile = path === ':memory:' ? null : mainDatabaseFile(sqlite);
  const walSync = inWal && mainFile ? WalSync.forDatabase(mainFile) : null;
  // One copy per process: `tegami serve`'s delivery thread ('shared') leaves it to the main
  // thread's connection, whose /readyz names it (two copies could fill a nearly full disk).
  const fileWatch = mainFile
    ? watchFileIdentity(
        mainFile,
        checkpointMode === 'shared' ? null : (to) => rescueCopy(sqlite, to),
        options.logger,
      )
    : null;
  const fsyncInline = options.fsync === 'inline';
  // Until here SQLite's busy handler waited (better-sqlite3's default, 5 s) while another process
  // held the lock; from here sqlite-busy.ts waits, without blocking the event loop for writes.
  sqlite.pragma('busy_timeout = 0');
  const cache = withStatementCache(sqlite, walSync);
  const db = new Kysely<Database>({ dialect: new TegamiSqliteDialect({ database: cache }) });

  const dataVersion = sqlite.prepare('pragma data_version').pluck();
  // Prepared here, not through Kysely: they run for every write transaction.
  const begin = sqlite.prepare('begin immediate');
  const commit = sqlite.prepare('commit');
  const rollback = sqlite.prepare('rollback');
  /** Returned by a turn that found another process holding SQLite's write lock. */
  const LOCKED_ELSEWHERE = Symbol('locked elsewhere');
  return {
    db,
    engine: 'sqlite',
    dialect: sqliteDialect,
    writeConcurrency: 1,
    externalChangeCounter: () => dataVersion.get() as number,
    // SQLite's default deferred BEGIN takes the write lock only at the first write; if another
    // process wrote in between, that upgrade fails at once with SQLITE_BUSY instead of waiting.
    // BEGIN IMMEDIATE takes it up front. If another process holds it, this turn lets go of the
    // connection (reads go on meanwhile) and the next one tries again after a timer.
    async writeTransaction(work, options) {
      // Counted from the first refusal: time spent waiting for this process's own writers (a
      // recovery's chunk) does not use up the wait for another process.
      let giveUpAt: number | null = null;
      for (let attempt = 0; ; attempt++) {
        const result = await db.connection().execute((conn) =>
          writeLock.hold(async () => {
            walSync?.throwIfFailed();
            fileWatch?.throwIfGone();
            try {
              begin.run();
            } catch (error) {
              giveUpAt ??= performance.now() + OTHER_WRITER_WAIT_MS;
              if (isLockWait(error) && performance.now() < giveUpAt) return LOCKED_ELSEWHERE;
              throw error;
            }
            // A bulk transaction leaves the WAL to the thread (see BULK_DEFER_FRAMES).
            const bulk = options?.bulk === true && threadCopies;
            if (bulk) writeLock.markBulkWriting(Date.now() + BULK_QUIET_MS);
            setAutocheckpoint(bulk);
            cache.holdingWriteLock = true;
            try {
              const result = await work(conn);
              // With a WAL: written, not yet fsync'd; that is done below, once the lock is free.
              // Without one (a file system where SQLite cannot use a WAL), COMMIT waits for other
              // processes' readers to finish, on the thread as SQLite's handler did.
              if (inWal) commit.run();
              else waitingOnThread(() => commit.run());
              return result;
            } catch (error) {
              if (sqlite.inTransaction) rollback.run();
              throw error;
            } finally {
              cache.holdingWriteLock = false;
              if (bulk) writeLock.markBulkWriting(Date.now() + BULK_QUIET_MS);
            }
          }),
        );
        if (result === LOCKED_ELSEWHERE) {
          await new Promise((r) => setTimeout(r, busyDelayMs(attempt)));
          continue;
        }
        // Committed, and the write lock is free for the next transaction; the caller hears back
        // once the commit is on disk, or at once if it may get there with the next fsync.
        if (options?.asyncCommit) walSync?.syncSoon();
        else if (fsyncInline) await walSync?.syncHere();
        else await walSync?.sync();
        return result;
      }
    },
    // Kysely's SQLite driver holds the connection for the whole transaction, so none of this
    // process's writes can come in between; other processes' commits are after its snapshot.
    readSnapshot: (work) => db.transaction().execute(work),
    durable: async () => {
      await walSync?.sync();
    },
    durabilityLost: () => walSync?.failedWith() ?? null,
    fileGone: () => fileWatch?.gone() ?? null,
    notify() {},
    announce: async () => {},
    listen: () => () => {},
    async close() {
      await fileWatch?.saved();
      await checkpoints?.stop();
      await walSync?.close();
      await db.destroy();
    },
  };
}

/**
 * A `-wal` file with something in it and no database beside it: the database was deleted or
 * moved while a process had it open, and that process was killed. Opening the path would start
 * an empty database and answer `202` to mail while every message queued before is gone (a
 * drill deleted `tegami.db` under a running `tegami serve`: after a restart, 1,796 accepted
 * messages were silently dropped). Refused instead, with what to do.
 */
function refuseOrphanedWal(path: string): void {
  if (existsSync(path)) return;
  let walBytes = 0;
  try {
    walBytes = statSync(`${path}-wal`).size;
  } catch {
    return;
  }
  if (walBytes === 0) return;
  throw new Error(
    `${path} is missing but ${path}-wal (${walBytes} bytes) is there: the database was deleted or moved while in use. Restore it (docs/runbook.md, "The database file was deleted"), or remove ${path}-wal and ${path}-shm to start an empty database`,
  );
}

/**
 * Watches that the path still leads to the file this process opened. SQLite goes on writing to
 * a deleted (unlinked) file without an error, and every commit to it is lost when the process
 * ends; a stat per write transaction (microseconds; group commit shares it) notices instead.
 * Once it does, the data still open is copied to a file of its own (`rescue`, SQLite's backup of
 * this connection, WAL included), so that a stop or a crash afterwards loses nothing either.
 */
function watchFileIdentity(
  file: string,
  rescue: ((to: string) => Promise<unknown>) | null,
  logger: Logger | undefined,
) {
  const opened = statSync(file);
  let copy: { to: string; state: 'copying' | 'saved' } | null = null;
  /** What happened to the file ('deleted or moved', 'replaced'); empty while it is in place. */
  let happened = '';
  let where: string | null = null;
  let saving: Promise<void> | null = null;
  const describe = () =>
    `the database file ${file} was ${happened} while this process had it open: writes are refused; ` +
    (rescue === null
      ? "this process's /readyz says where its data is saved"
      : copy?.state === 'saved'
        ? `its data was saved to ${copy.to}: stop this process and put that file in place (docs/runbook.md, "The database file was deleted")`
        : `${copy ? `its data is being saved to ${copy.to}` : 'saving its data failed (see the log)'}${where ? `; it is still readable at ${where} while this process runs` : ''}: before stopping this process, follow docs/runbook.md, "The database file was deleted"`);
  const saveCopy = async (copyTo: (to: string) => Promise<unknown>) => {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // Beside the file, or, if its folder went with it, in the temporary folder.
    for (const to of [
      `${file}.rescued-${stamp}`,
      join(tmpdir(), `${basename(file)}.rescued-${stamp}`),
    ]) {
      copy = { to, state: 'copying' };
      try {
        await copyTo(to);
        copy = { to, state: 'saved' };
        logger?.error({ rescued: to }, `the deleted database's data was saved to ${to}`);
        return;
      } catch (error) {
        logger?.error({ err: error, to }, 'could not save the deleted database here');
      }
    }
    copy = null;
  };
  const check = (): string | null => {
    if (happened) return describe();
    let now: ReturnType<typeof statSync> | null = null;
    try {
      now = statSync(file);
    } catch {
      now = null;
    }
    if (now !== null && now.ino === opened.ino && now.dev === opened.dev) return null;
    happened = now === null ? 'deleted or moved' : 'replaced';
    where = openDescriptorOf(file);
    logger?.error(`the database file ${file} was ${happened} while in use: writes are refused`);
    if (rescue) saving = saveCopy(rescue);
    return describe();
  };
  return {
    gone: check,
    /** A copy under way finishes before the connection closes (a stop right after). */
    saved: () => saving ?? Promise.resolve(),
    throwIfGone(): void {
      const why = check();
      if (why !== null) throw Object.assign(new Error(why), { code: 'SQLITE_READONLY_DBMOVED' });
    },
  };
}

/** How long a rescue copy waits for this connection's transactions to end before it gives up. */
const RESCUE_WAIT_MS = 60_000;

/**
 * SQLite's online backup of this connection to `to`, the WAL's commits included. A step that
 * meets this connection's own write transaction gets SQLITE_BUSY, and better-sqlite3 takes such
 * a first step for a finished backup: it resolves with nothing copied and removes the file. So
 * the copy starts once no transaction of this connection is open (one begun before the file went
 * may still commit, and its caller hears `200`), and a copy of no pages is tried again.
 */
async function rescueCopy(sqlite: SqliteDatabase.Database, to: string): Promise<void> {
  const giveUpAt = performance.now() + RESCUE_WAIT_MS;
  for (;;) {
    while (sqlite.inTransaction && performance.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const done = await sqlite.backup(to);
    if (done.totalPages > 0 && done.remainingPages === 0) return;
    if (performance.now() >= giveUpAt) {
      throw new Error(`the copy to ${to} could not start: the connection stayed in a transaction`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Linux: the /proc path of this process's descriptor of a deleted file, to copy it back. */
function openDescriptorOf(file: string): string | null {
  try {
    for (const fd of readdirSync('/proc/self/fd')) {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target === `${file} (deleted)`) return `/proc/${process.pid}/fd/${fd}`;
    }
  } catch {
    // Not Linux, or /proc is not mounted.
  }
  return null;
}

/** The main database's file as SQLite opened it: its WAL is this name plus `-wal`. */
function mainDatabaseFile(sqlite: SqliteDatabase.Database): string {
  const list = sqlite.pragma('database_list') as { name: string; file: string }[];
  const main = list.find((d) => d.name === 'main');
  if (!main?.file) throw new Error('SQLite did not say which file the database is');
  return main.file;
}

/**
 * Creates `dir` and its missing parents one level at a time. Node's `mkdirSync(…, { recursive })`
 * never returns where a parent exists but refuses children with ENOENT (anything under /proc):
 * it retries forever at full CPU. Here the first refusal is reported as an error.
 */
function ensureDirectory(dir: string): void {
  const missing: string[] = [];
  let current = dir;
  while (!existsSync(current) && dirname(current) !== current) {
    missing.push(current);
    current = dirname(current);
  }
  if (existsSync(current) && !statSync(current).isDirectory()) {
    throw new Error(`${current} is not a folder`);
  }
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder);
    } catch (error) {
      // Another process starting at the same time may have made it first.
      const exists =
        (error as { code?: string }).code === 'EEXIST' && statSync(folder).isDirectory();
      if (!exists) throw error;
    }
  }
}

/**
 * Kysely's SQLite driver prepares every statement anew; compiling SQL took ~8% of the API's CPU
 * under load (profiled). Caching prepared statements by their SQL text removes that. Bounded,
 * because multi-row inserts produce one SQL text per row count.
 *
 * Kysely runs what this returns at once. Inside this process's own write transaction
 * (`holdingWriteLock`) that is the statement itself. Elsewhere it may meet another process's
 * lock, and is wrapped to wait for it (`patiently`); a statement that writes outside a
 * transaction commits on its own, and with a WAL is also made durable before it returns.
 */
function withStatementCache(sqlite: SqliteDatabase.Database, walSync: WalSync | null, size = 256) {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepareCached = (text: string) => {
    let statement = cache.get(text);
    if (statement) {
      cache.delete(text); // re-insert below: Map order is our LRU order
    } else {
      statement = sqlite.prepare(text);
      if (cache.size >= size) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
    }
    cache.set(text, statement);
    return statement;
  };
  return {
    holdingWriteLock: false,
    close: () => sqlite.close(),
    prepare(text: string) {
      const statement = prepareCached(text);
      if (this.holdingWriteLock) return statement;
      const alone = walSync !== null && !statement.readonly && !sqlite.inTransaction;
      return patiently(statement, alone ? walSync : null);
    },
  };
}

/**
 * A statement that waits for another process's lock (sqlite-busy.ts). With `walSync`, one that
 * commits on its own (a setting, an API key, a lease outside a write transaction), fsync'd before
 * its result is returned, as SQLite's FULL would: a write transaction has the fsync done off the
 * thread, but one statement's caller cannot wait for it.
 */
function patiently(statement: SqliteDatabase.Statement, walSync: WalSync | null) {
  const call = <T>(run: () => T): T => {
    walSync?.throwIfFailed();
    const result = waitingOnThread(run);
    walSync?.syncNow();
    return result;
  };
  return {
    reader: statement.reader,
    run: (parameters: readonly unknown[]) => call(() => statement.run(parameters)),
    all: (parameters: readonly unknown[]) => call(() => statement.all(parameters)),
    // A durable statement runs to the end before anything is returned; a read streams (and, as
    // it reads one snapshot of a WAL, meets no lock once it has begun).
    iterate: (parameters: readonly unknown[]) =>
      walSync
        ? call(() => statement.all(parameters))[Symbol.iterator]()
        : statement.iterate(parameters),
  };
}
