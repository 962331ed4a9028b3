import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';

/**
 * Makes SQLite's write-ahead log durable off the event loop, one fsync for every commit that
 * asked while the previous one ran; or, where that pays (`syncHere`, `tegami serve`), on the
 * thread that committed, right after its commit.
 *
 * With `synchronous = FULL` SQLite fsyncs the WAL inside COMMIT, and better-sqlite3 runs COMMIT on
 * the calling thread: in `tegami serve` the thread that also answers HTTP stood still for the
 * fsync of every group commit. SQLite now commits with `synchronous = NORMAL` (the frames are
 * written to the WAL, not yet fsync'd). A write transaction lets go of the write lock, and its
 * caller is answered once `sync()` has resolved: an fsync of the WAL file on libuv's thread pool
 * that began after the commit (or once `syncHere()` has made one on the calling thread). So
 * nothing is acknowledged before it is on disk; with `sync()` the next transaction is written
 * while the fsync runs, and commits that come in meanwhile share the next fsync.
 *
 * Why an fsync of the file is enough: SQLite appends each commit's frames to the WAL and, in
 * NORMAL mode, still syncs the WAL before every checkpoint, the database after it, and the WAL's
 * header when the log starts over (sqlite.org/pragma.html#pragma_synchronous), so the log is
 * never rewritten under frames that are not yet in the database file. After a power loss SQLite
 * recovers every commit whose frames are on disk. An fsync covers the whole file, so a writer
 * that waits for its own also covers every commit before it, another thread's or process's
 * included: a claim that leases a message cannot go ahead before the message's acceptance is
 * durable.
 *
 * What differs from FULL: a commit is visible to plain reads up to about two fsyncs before it is
 * durable. A read that acknowledges something (an idempotent replay of a stored answer) waits
 * for `sync()` first (`DatabaseHandle.durable`). And a failed fsync cannot undo a commit that
 * others may already have read: the first failure is kept and every later `sync()` fails with it
 * (after a failed fsync Linux may drop the unwritten pages and report the next fsync as a
 * success), so writes fail until the process is restarted and SQLite recovers from what is on
 * disk.
 *
 * A commit whose loss on a power failure would cost a repeat, not a loss (a delivery result: the
 * message would be sent again), need not wait for an fsync of its own: `syncSoon()` leaves it to
 * the next fsync anyone starts, and starts one itself after DEFERRED_SYNC_MS if nobody did. Under
 * load the submissions' fsyncs carry the results, which halves the fsyncs (see
 * docs/benchmarks.md). A process that is killed loses nothing either way: the commit is in the
 * page cache, and only a crash of the machine can take it.
 */

/** The longest a deferred commit waits for its fsync (`WalSync.syncSoon`). */
export const DEFERRED_SYNC_MS = 100;

/**
 * Above this average, fsyncs on the calling thread (`WalSync.syncHere`) hold it too long (a slow
 * disk): they go to the thread pool. On the benchmark machine under load an fsync took ~0.5 ms,
 * one in five over 1 ms, one in thirty over 3 ms, and the average (over the last ~10) reached 3.
 */
export const INLINE_FSYNC_SLOW_MS = 10;
/** How long fsyncs then stay on the thread pool before the calling thread is tried again. */
export const INLINE_FSYNC_BACKOFF_MS = 10_000;

export class WalSync {
  /** The fsync under way, if any. */
  private running: Promise<void> | null = null;
  /** The fsync that follows it, shared by everyone who asked while it ran. */
  private next: Promise<void> | null = null;
  /** The first fsync that failed: nothing after it can be promised durable. */
  private failure: unknown = null;
  /** A deferred commit that no fsync begun since covers. */
  private deferred = false;
  private deferredTimer: NodeJS.Timeout | null = null;
  /** Recent fsyncs on the calling thread, ms (a moving average). */
  private inlineAverageMs = 0;
  /** Until when `syncHere` leaves fsyncs to the thread pool (its clock). */
  private poolUntil = 0;

  constructor(
    private readonly fsync: () => Promise<void>,
    private readonly closeFile: () => void = () => {},
    private readonly fsyncOnThread: () => void = () => {
      throw new Error('this WalSync cannot fsync on the calling thread');
    },
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /**
   * For the WAL of the database at `path`, the file as SQLite opened it. The log is opened at
   * the first sync and stays the same file while a connection is open: SQLite truncates it, it
   * deletes it only when the last connection closes.
   */
  static forDatabase(path: string): WalSync {
    let fd: number | null = null;
    const log = () => {
      fd ??= openSync(`${path}-wal`, 'r');
      return fd;
    };
    return new WalSync(
      () =>
        new Promise<void>((resolve, reject) => {
          fdatasync(log(), (error) => (error ? reject(error) : resolve()));
        }),
      () => {
        if (fd !== null) closeSync(fd);
        fd = null;
      },
      () => fdatasyncSync(log()),
    );
  }

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (!this.running) return this.start();
    // The fsync under way may have begun before the caller's commit was written.
    this.next ??= this.running
      .catch(() => {})
      .then(() => {
        this.next = null;
        return this.start();
      });
    return this.next;
  }

  /**
   * The same promise as sync(), kept by an fsync on the calling thread, which stands still for
   * it. Where one thread writes both the submissions and the delivery results (`tegami serve`),
   * that made its groups of both larger, since more of each arrive meanwhile: 26 messages a
   * group instead of 15, 15 % less CPU per message and ~1.1x the mail delivered (measured, see
   * docs/benchmarks.md). Where the thread has nothing else to write (`tegami api`) it only
   * stalled the requests being read (0.9x), so there sync() is used. When these fsyncs are slow
   * on average (INLINE_FSYNC_SLOW_MS), they go to the thread pool for INLINE_FSYNC_BACKOFF_MS.
   */
  syncHere(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const start = this.clock();
    if (start < this.poolUntil) return this.sync();
    // An fsync that begins now covers every commit written so far, deferred ones included.
    this.deferred = false;
    try {
      this.fsyncOnThread();
    } catch (error) {
      this.failure ??= error;
      return Promise.reject(error);
    }
    this.inlineAverageMs += (this.clock() - start - this.inlineAverageMs) * 0.1;
    if (this.inlineAverageMs > INLINE_FSYNC_SLOW_MS) {
      this.poolUntil = this.clock() + INLINE_FSYNC_BACKOFF_MS;
      this.inlineAverageMs = 0;
    }
    return Promise.resolve();
  }

  /**
   * For a commit that may reach the disk a moment after its caller hears back: the next fsync
   * covers it, and one starts within DEFERRED_SYNC_MS if nothing else asks for one.
   */
  syncSoon(): void {
    this.deferred = true;
    if (this.deferredTimer !== null) return;
    this.deferredTimer = setTimeout(() => {
      this.deferredTimer = null;
      // A failure is kept (this.failure) and fails the next write; nobody waits on this one.
      if (this.deferred) this.sync().catch(() => {});
    }, DEFERRED_SYNC_MS);
    // The timer must not keep a finished process alive: close() syncs what is left.
    this.deferredTimer.unref();
  }

  private start(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    // An fsync that begins now covers every commit written so far.
    this.deferred = false;
    const running = this.fsync()
      .catch((error: unknown) => {
        this.failure ??= error;
        throw error;
      })
      .finally(() => {
        if (this.running === running) this.running = null;
      });
    this.running = running;
    return running;
  }

  /**
   * The same promise, kept before returning: an fsync on the calling thread, for a statement
   * that committed outside a write transaction (what SQLite's FULL does inside its commit).
   */
  syncNow(): void {
    this.throwIfFailed();
    try {
      this.fsyncOnThread();
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
  }

  /** The fsync that failed, after which nothing more is committed; null while none has. */
  failedWith(): Error | null {
    if (this.failure === null) return null;
    return this.failure instanceof Error ? this.failure : new Error(String(this.failure));
  }

  /** Before a write: after a failed fsync nothing more is committed. */
  throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** After the last sync that was asked for (a deferred commit's too): closes the file. */
  async close(): Promise<void> {
    if (this.deferredTimer !== null) clearTimeout(this.deferredTimer);
    this.deferredTimer = null;
    if (this.deferred) await this.sync().catch(() => {});
    await this.next?.catch(() => {});
    await this.running?.catch(() => {});
    this.closeFile();
  }
}
