/**
 * SQLite's write lock, shared by the threads of one process before they ask SQLite for it.
 *
 * Two connections of one process (the API on the main thread, delivery on its own thread) would
 * otherwise meet inside SQLite: the loser's `BEGIN IMMEDIATE` sleeps in SQLite's busy handler
 * (1, 2, 5, 10 ms … while holding up its whole thread) and wakes late. Here the loser waits on a
 * shared counter instead: the main thread without blocking its event loop, and it is woken the
 * moment the lock is free. First come, first served (a ticket lock), so neither side starves.
 *
 * SQLite's own lock stays in force underneath; this only decides who asks first. Other
 * processes on the same file still wait in SQLite's busy handler.
 */
export class SharedWriteLock {
  /** [next ticket to hand out, ticket now served] */
  private readonly cells: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.cells = new Int32Array(buffer);
  }

  /** Waits for the lock without blocking this thread's event loop. */
  async acquire(): Promise<void> {
    const ticket = Atomics.add(this.cells, NEXT, 1);
    for (;;) {
      const serving = Atomics.load(this.cells, SERVING);
      if (serving === ticket) return;
      const wait = Atomics.waitAsync(this.cells, SERVING, serving);
      if (wait.async) await wait.value;
    }
  }

  /** Waits for the lock blocking this thread: for threads with nothing else to do meanwhile. */
  acquireBlocking(): void {
    const ticket = Atomics.add(this.cells, NEXT, 1);
    for (;;) {
      const serving = Atomics.load(this.cells, SERVING);
      if (serving === ticket) return;
      Atomics.wait(this.cells, SERVING, serving);
    }
  }

  release(): void {
    Atomics.add(this.cells, SERVING, 1);
    Atomics.notify(this.cells, SERVING);
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

const NEXT = 0;
const SERVING = 1;
