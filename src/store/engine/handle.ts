import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * The database as every store operation sees it, whichever engine is behind it (SQLite opened in
 * database.ts, PostgreSQL in postgres.ts). Kept apart from the openers so they do not import
 * each other.
 */
export type Engine = 'sqlite' | 'postgres';

/** Channels other processes are told about over PostgreSQL's LISTEN/NOTIFY. */
export type Channel = 'tegami_due' | 'tegami_changes';

export interface DatabaseHandle {
  db: Kysely<Database>;
  engine: Engine;
  /** How many write transactions may usefully run at once (group commits in flight). */
  writeConcurrency: number;
  /** Runs `work` in a transaction that holds the write lock from its first statement. */
  writeTransaction<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
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
