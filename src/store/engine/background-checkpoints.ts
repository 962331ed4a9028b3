import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SharedWriteLock } from './write-lock.ts';

/**
 * SQLite in WAL mode appends every commit to the WAL; a checkpoint copies those pages into the
 * database file and fsyncs it. By default the connection that commits runs the checkpoint
 * itself, inside its COMMIT, every 1,000 pages: a long-running process's thread stops to write
 * and fsync pages that no request waits for (`tegami serve` delivered 3–7 % more without that
 * stop, measured; see docs/benchmarks.md). Here a thread of its own, with its own connection,
 * checkpoints every
 * `intervalMs` while the writers go on; the writers' own checkpoint stays as a backstop for a
 * WAL that grows past `BACKSTOP_FRAMES` (the thread stopped or cannot keep up).
 */
export interface BackgroundCheckpoints {
  stop(): Promise<void>;
}

export interface CheckpointThreadData {
  path: string;
  lock: SharedArrayBuffer;
  intervalMs: number;
  restartAtFrames: number;
  fewFrames: number;
  bulkDeferFrames: number;
}

/**
 * The writers' own checkpoint, in pages of 4 KiB (~32 MB of WAL). Writers that add thousands of
 * pages per transaction for long (a recovery) never leave the thread a quiet moment to start the
 * WAL over; this does, in the commit that passes it, with most of the pages already copied by the
 * thread. At 50,000 the WAL grew to ~200 MB and the same recovery ran no faster than with
 * SQLite's own 1,000 (measured, docs/benchmarks.md).
 */
export const BACKSTOP_FRAMES = 8_000;
/** Past ~16 MB of WAL, a pass finishes while this process's writers wait, so the WAL restarts. */
const RESTART_AT_FRAMES = 4_000;
/** …when a pass found fewer new frames than this: the writers are not busy rewriting much. */
const FEW_FRAMES = 1_000;
const INTERVAL_MS = 50;
/**
 * While a bulk writer is at work (a recovery's chunks, one after another; see
 * `SharedWriteLock.markBulkWriting`), the thread leaves the WAL alone up to this many pages
 * (512 MiB). Copying pages into the database file while each chunk writes thousands of them into
 * the WAL made both wait on the disk: a recovery of 99,945 messages took 12.0-12.9 s with the
 * thread copying along, 8.1-8.4 s with the copy after it (measured, docs/benchmarks.md). The
 * thread copies the whole WAL once the writer is done.
 */
export const BULK_DEFER_FRAMES = 131_072;
/**
 * During bulk writes the writers' own checkpoint (BACKSTOP_FRAMES) is raised to this (768 MiB):
 * past BULK_DEFER_FRAMES the thread copies again, and here the writer's commit finishes the
 * copy so the WAL starts over; a recovery of millions of messages does not grow it without end.
 */
export const BULK_BACKSTOP_FRAMES = 196_608;
/** Checkpoints wait this long after a bulk transaction, for the next one of its run. */
export const BULK_QUIET_MS = 1_000;
/** Where a WAL restarted from its beginning is cut back to. */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

const THREAD_BOOTSTRAP = new URL('../../../bin/ts-thread.js', import.meta.url);

/**
 * Started with `copying` true; told false when the thread stops for good or its passes fail (the
 * writers must checkpoint themselves meanwhile), true again when they work again.
 */
export type CheckpointsCopying = (copying: boolean) => void;

export function startBackgroundCheckpoints(
  path: string,
  lock: SharedWriteLock,
  onCopying: CheckpointsCopying,
  logger?: Logger,
): BackgroundCheckpoints {
  const data: CheckpointThreadData = {
    path,
    lock: lock.buffer,
    intervalMs: INTERVAL_MS,
    restartAtFrames: RESTART_AT_FRAMES,
    fewFrames: FEW_FRAMES,
    bulkDeferFrames: BULK_DEFER_FRAMES,
  };
  const thread = new Worker(THREAD_BOOTSTRAP, {
    workerData: { module: new URL('./checkpoint-thread.ts', import.meta.url).href, ...data },
  });
  // Never the reason a process stays up.
  thread.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  // The thread posts only when its passes start failing, and when they work again.
  thread.on('message', (message: { failing?: string; working?: true }) => {
    if (message.working) {
      logger?.info('background WAL checkpoints work again');
      onCopying(true);
    } else {
      logger?.warn(
        { reason: message.failing },
        'background WAL checkpoints failing: the writers checkpoint in their commits meanwhile; retrying',
      );
      onCopying(false);
    }
  });
  thread.on('error', (error) => {
    logger?.warn({ err: error }, 'background WAL checkpoints failed');
    onCopying(false);
  });
  thread.on('exit', () => {
    if (!stopping) {
      logger?.warn('background WAL checkpoints stopped: the checkpoint thread exited');
      onCopying(false);
    }
  });
  return {
    async stop() {
      stopping = true;
      // Asked, not terminated: a pass holding the write lock must get to release it. Until the
      // thread is gone, it keeps the process up.
      thread.ref();
      thread.postMessage('stop');
      await exited;
    },
  };
}
