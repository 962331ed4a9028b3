import type {
  Expression,
  Insertable,
  Kysely,
  RawBuilder,
  SelectQueryBuilder,
  SqlBool,
} from 'kysely';
import type { Database } from '../schema.ts';
import type { Insertion } from '../write/insert-rows.ts';

/**
 * What every query gets: the Kysely instance, write transactions, cross-process hints, and the
 * `Dialect`, which holds every difference between the engines that a query needs. Opening a
 * database is `open.ts` (`sqlite.ts`, `postgres.ts`); migrations are `migrate.ts`.
 */

export type Engine = 'sqlite' | 'postgres';

/**
 * How a subject condition (Dialect.subjectMatch) finds its messages; both find the same ones.
 *
 * - `matching-ids`: reads every id the subject index has for the words, once, before the query's
 *   order and limit apply: fast when few messages match, slow for a word many carry.
 * - `per-message`: checks each message as the query reads them in its own order (newest first),
 *   so a page of a common word stops after its few hundred rows: slow only when few match.
 */
export type SubjectPlan = 'matching-ids' | 'per-message';

/** Channels other processes are told about over PostgreSQL's LISTEN/NOTIFY. */
export type Channel = 'tegami_due' | 'tegami_changes';

export interface DatabaseHandle {
  db: Kysely<Database>;
  /** For logs and wiring; queries ask `dialect`, never the engine's name. */
  engine: Engine;
  dialect: Dialect;
  /** How many write transactions may usefully run at once (group commits in flight). */
  writeConcurrency: number;
  /**
   * Runs `work` in a transaction that holds the write lock from its first statement. `bulk`: one
   * of a run of large transactions (a recovery's chunks); on SQLite, copying the WAL into the
   * database file waits until the run is over (see background-checkpoints.ts). `asyncCommit`:
   * the caller hears back once the commit is visible, and it reaches the disk a moment later
   * (SQLite: with the next fsync, within DEFERRED_SYNC_MS; PostgreSQL: `synchronous_commit = off`,
   * within three times `wal_writer_delay`). Only for writes that a crash of the machine may undo
   * at the cost of doing something again, never of losing what was acknowledged.
   */
  writeTransaction<T>(
    work: (trx: Kysely<Database>) => Promise<T>,
    options?: { bulk?: boolean; asyncCommit?: boolean },
  ): Promise<T>;
  /**
   * Runs `work`'s reads against one view of the database, so an answer built from several
   * queries (a message, then its attempts) cannot mix states from before and after a commit
   * made between them. PostgreSQL: a read-only REPEATABLE READ transaction. SQLite: a deferred
   * transaction on this process's one connection (its snapshot starts at the first read).
   * `work` must query through `trx` only: on SQLite anything that waits for `handle.db` inside it
   * (a store call, a cache's look-up) waits for the connection the snapshot holds, forever.
   */
  readSnapshot<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Resolves once every commit made so far is on disk. On SQLite a commit is visible to reads a
   * moment before its fsync (engine/wal-sync.ts): a read whose answer acknowledges something
   * (an idempotent replay) waits for this first. Absent where a visible commit is durable.
   */
  durable?(): Promise<void>;
  /**
   * Why nothing this process writes can be made durable any more, or null while writes work.
   * SQLite: a failed fsync of the WAL (wal-sync.ts); every later write fails with it until the
   * process restarts. Absent where a failure does not outlive the statement that met it.
   */
  durabilityLost?(): Error | null;
  /**
   * SQLite: why the file this connection has open is no longer the one at its path (deleted,
   * moved or replaced while open), or null. Writes are refused meanwhile: anything committed to
   * an unlinked file is gone at the next start. Absent where it cannot be.
   */
  fileGone?(): string | null;
  /**
   * Whether this connection's database refuses writes (PostgreSQL: a standby, or a primary set
   * read-only during a failover), asked by /readyz. Absent where it cannot be.
   */
  readOnly?(): Promise<boolean>;
  /**
   * A number that changes whenever another connection (another process) commits, or undefined
   * when the engine cannot tell. Lets read caches stay correct across processes.
   */
  externalChangeCounter(): number | undefined;
  /**
   * Tells other processes something happened (PostgreSQL NOTIFY): a latency hint only, they
   * poll anyway. A no-op on SQLite, where every process polls one file.
   */
  notify(channel: Channel): void;
  /** Like `notify`, but sent at once and awaited: for rare events from short-lived commands. */
  announce(channel: Channel): Promise<void>;
  /** Calls `handler` on each notification; returns a function that stops listening. */
  listen(channel: Channel, handler: () => void): () => void;
  close(): Promise<void>;
}

/**
 * Where SQLite (one writer, in-process) and PostgreSQL (row locks, a server over the network)
 * need different SQL. SQLite's write lock, taken at BEGIN IMMEDIATE, already serialises what
 * PostgreSQL needs row locks, SKIP LOCKED and advisory locks for; so on SQLite most of these do
 * nothing. The two objects are `sqliteDialect` (sqlite.ts) and `postgresDialect` (postgres.ts).
 */
export interface Dialect {
  /**
   * Holds the rows a transaction read until it commits (PostgreSQL `FOR UPDATE`), so no other
   * transaction changes them in between.
   */
  lockRowsForUpdate<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
  ): SelectQueryBuilder<DB, TB, O>;
  /**
   * For claims: concurrent claimers skip each other's rows instead of waiting for them, or
   * claiming them twice (PostgreSQL `FOR UPDATE SKIP LOCKED`).
   */
  skipLocked<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
  ): SelectQueryBuilder<DB, TB, O>;
  /**
   * Serialises transactions about the same `key` (an idempotency key) until the transaction
   * ends: the second waits until the first commits (PostgreSQL's transaction-scoped advisory
   * lock).
   */
  advisoryXactLock(trx: Kysely<Database>, key: string): Promise<void>;
  /**
   * Inserts many rows into one table (see write/insert-rows.ts for the two strategies);
   * `onConflict`, an `on conflict …` clause written for both engines, is appended as it is.
   */
  insertRows<T extends keyof Database & string>(
    db: Kysely<Database>,
    table: T,
    rows: Insertable<Database[T]>[],
    onConflict?: string,
  ): Promise<void>;
  /** Inserts into several tables; one statement where the engine allows it. */
  insertIntoTables(db: Kysely<Database>, insertions: Insertion[]): Promise<void>;
  /**
   * Whether `insertIntoTables` is one statement, atomic by itself: then a write made of it alone
   * needs no BEGIN and COMMIT round trips around it.
   */
  multiTableInsertIsOneStatement: boolean;
  /**
   * Whether a `WITH` may hold an update (a data-modifying CTE) whose returned rows the rest of
   * the statement reads: then a write and the writes that follow from it are one statement, one
   * round trip (PostgreSQL). SQLite allows only a select in a `WITH`: there the caller writes
   * each in a statement of its own, which costs no round trip in-process.
   */
  writesInWith: boolean;
  /**
   * `table`, read through the named index (SQLite `INDEXED BY`): without statistics SQLite may
   * choose a worse index. PostgreSQL plans with its own statistics: the table as it is.
   */
  throughIndex<T extends keyof Database & string>(table: T, index: string | null): T;
  /** The same for SQL written by hand: the text to put right after the table's name. */
  indexHint(index: string): RawBuilder<unknown>;
  /**
   * The subject word index, filled in the background (search/index-subjects.ts): SQLite's FTS5
   * table `messages_fts`, PostgreSQL's `messages_subject_index` (tsvectors). Also the name of its
   * progress row in `search_index_state`.
   */
  subjectIndexName: 'messages_fts' | 'messages_subject_index';
  /**
   * Adds the subjects of up to `limit` messages with ids in (`after`, `before`), in id order, to
   * the subject index; returns how many it added and the last id added.
   */
  addToSubjectIndex(
    trx: Kysely<Database>,
    after: string,
    before: string,
    limit: number,
  ): Promise<{ count: number; last: string | undefined }>;
  /**
   * The condition that every word of `words` is in the subject: the index for messages it has
   * reached (up to `indexedThrough`), the subject itself for the newer ones. `plan` only changes
   * how the engine finds them (SubjectPlan), not which.
   */
  subjectMatch(words: string[], indexedThrough: string, plan: SubjectPlan): Expression<SqlBool>;
  /**
   * How many messages in the subject index have every word of `words`, counted up to `atMost`
   * only: what a subject condition costs as a set of ids (SubjectPlan), in bounded time.
   */
  countSubjectMatches(db: Kysely<Database>, words: string[], atMost: number): Promise<number>;
  /**
   * Gathers the subject index's planner statistics if it has none yet; true when it did
   * (search/index-subjects.ts, ensureSubjectIndexStatistics). PostgreSQL plans from statistics,
   * which autovacuum gathers for a new table only later; SQLite plans without them (the queries
   * name their index, `throughIndex`): nothing to gather.
   */
  gatherSubjectIndexStatistics(db: Kysely<Database>): Promise<boolean>;
  /**
   * `text` to compare in the order of its UTF-8 bytes (code point order), the order JavaScript
   * code can apply to the same values (`compareSuppressionEvents`). SQLite compares text so by
   * default (BINARY); PostgreSQL by the database's collation, which in a locale such as
   * `en_US.UTF-8` sets case and punctuation aside at first: `collate "C"` there.
   */
  inByteOrder(text: RawBuilder<unknown>): RawBuilder<unknown>;
  /** The n-th (from 1) bound parameter in SQL written by hand: `$n` or `?`. */
  placeholder(n: number): string;
  /**
   * `in (…)` over `ids` in SQL written by hand, its parameters numbered from `first`: one array
   * parameter on PostgreSQL (`= any($n::text[])`), one JSON array read by `json_each` on SQLite.
   * Either way the SQL text does not depend on how many ids there are.
   */
  inList(ids: string[], first: number): { text: string; params: unknown[] };
}
