/**
 * SQLite's write lock, shared by the threads of one process before they ask SQLite for it.
 *
 * Two connections of one process (the API on the main thread, delivery on its own thread) would
 * otherwise meet inside SQLite: the loser's `BEGIN IMMEDIATE` sleeps in SQLite's busy handler
 * (1, 2, 5, 10 ms … while holding up its whole thread) and wakes late. Here the loser waits on a
 * shared cell instead, the main thread without blocking its event loop, and is woken the moment
 * the lock is free.
 *
 * Whoever is ready first takes it: not a queue. A queue (a ticket lock, tried first) handed the
 * lock to a waiter whose thread was still busy with other work, and the lock sat unused until
 * that thread came back to it: both threads ended up mostly idle and delivery fell 1.5 s behind
 * (measured; see docs/benchmarks.md).
 *
 * SQLite's own lock stays in force underneath; this only decides who asks first. Other
 * processes on the same file still wait in SQLite's busy handler.
 *
 * The same shared memory tells the checkpoint thread when bulk writers are at work
 * (`markBulkWriting`; see background-checkpoints.ts), since it is what the threads that write
 * one file already share.
 */
export class SharedWriteLock {
  /** 0: free, 1: held. */
  private readonly cells: Int32Array;
  /** Until when (ms since the epoch) bulk writers asked checkpoints to wait. */
  private readonly bulkUntil: BigInt64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(16)) {
    this.cells = new Int32Array(buffer, 0, 1);
    this.bulkUntil = new BigInt64Array(buffer, 8, 1);
  }

  /**
   * A bulk writer (a recovery's chunks, one after another) is at work until `untilMs`: the
   * checkpoint thread leaves the WAL alone until then, and copies it all after (see
   * background-checkpoints.ts).
   */
  markBulkWriting(untilMs: number): void {
    Atomics.store(this.bulkUntil, 0, BigInt(Math.ceil(untilMs)));
  }

  /**
   * Until when the last bulk run asked checkpoints to wait (ms since the epoch); 0 once the
   * checkpoint thread has copied what it wrote.
   */
  bulkWritingUntil(): number {
    return Number(Atomics.load(this.bulkUntil, 0));
  }

  /** The run that asked to wait until `untilMs` is copied (unless another one began since). */
  bulkRunCopied(untilMs: number): void {
    Atomics.compareExchange(this.bulkUntil, 0, BigInt(untilMs), 0n);
  }

  /** Waits for the lock without blocking this thread's event loop. */
  async acquire(): Promise<void> {
    while (Atomics.compareExchange(this.cells, STATE, FREE, HELD) !== FREE) {
      const wait = Atomics.waitAsync(this.cells, STATE, HELD);
      if (wait.async) await wait.value;
    }
  }

  /** Waits for the lock blocking this thread: for threads with nothing else to do meanwhile. */
  acquireBlocking(): void {
    while (Atomics.compareExchange(this.cells, STATE, FREE, HELD) !== FREE) {
      Atomics.wait(this.cells, STATE, HELD);
    }
  }

  release(): void {
    Atomics.store(this.cells, STATE, FREE);
    Atomics.notify(this.cells, STATE);
  }

  /** Runs `work` holding the lock. */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }
}

const STATE = 0;
const FREE = 0;
const HELD = 1;
