/**
 * Waiting for another process's write lock on a SQLite file (`tegami api` and `tegami worker` on
 * one file, a CLI command, an operator's `sqlite3` shell).
 *
 * SQLite's own busy handler (`busy_timeout`) waits asleep on the calling thread: while another
 * process held the lock for seconds, this process's event loop stood still, and with it every
 * request, health check and metrics scrape, not only the writes. So the connection's busy timeout
 * is 0 and the waiting happens here instead: a write transaction that finds the lock taken lets
 * go of its connection and tries again after a timer (sqlite.ts, `writeTransaction`); a single
 * statement outside one (rare: a read during another process's recovery of the WAL, a setting
 * that commits alone) still waits on the thread, as SQLite would have.
 *
 * Either gives up after OTHER_WRITER_WAIT_MS with SQLite's own SQLITE_BUSY, which the API answers
 * as a 503 (map-errors.ts).
 */

/** As long as `busy_timeout` waited before. */
export const OTHER_WRITER_WAIT_MS = 5_000;

/** SQLite's own busy handler sleeps these in turn (sqliteDefaultBusyCallback), then 100 ms each. */
const DELAYS_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

/** How long to wait before the `attempt`-th retry (0-based). */
export function busyDelayMs(attempt: number): number {
  return DELAYS_MS[Math.min(attempt, DELAYS_MS.length - 1)] as number;
}

/**
 * Whether waiting can help: the lock is held by another connection (SQLITE_BUSY), or another
 * connection is rebuilding the WAL's index after a crash (SQLITE_BUSY_RECOVERY). Not
 * SQLITE_BUSY_SNAPSHOT: a transaction that read an older snapshot cannot write however long it
 * waits (SQLite's handler is not called for it either).
 */
export function isLockWait(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_RECOVERY';
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Runs `work`, retrying it asleep on this thread while another connection holds the lock. */
export function waitingOnThread<T>(work: () => T): T {
  const deadline = performance.now() + OTHER_WRITER_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return work();
    } catch (error) {
      if (!isLockWait(error) || performance.now() >= deadline) throw error;
    }
    Atomics.wait(sleeper, 0, 0, busyDelayMs(attempt));
  }
}
