/**
 * The body of the background checkpoint thread (see background-checkpoints.ts): copies what the
 * WAL holds into the database file on its own connection, so the writing threads never wait
 * for those page writes and fsyncs.
 */
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import type { CheckpointThreadData } from './background-checkpoints.ts';
import { SharedWriteLock } from './write-lock.ts';

const data = workerData as CheckpointThreadData;
const sqlite = new SqliteDatabase(data.path);
// Only the checkpoints below write the database file from this connection.
sqlite.pragma('wal_autocheckpoint = 0');
sqlite.pragma('busy_timeout = 100');
const checkpoint = sqlite.prepare('pragma wal_checkpoint(PASSIVE)');
const frameBytes = (sqlite.pragma('page_size', { simple: true }) as number) + 24;
const lock = new SharedWriteLock(data.lock);
let timer: NodeJS.Timeout | null = null;

interface CheckpointResult {
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Of those, frames now in the database file. */
  checkpointed: number;
}

function run(): CheckpointResult {
  return checkpoint.get() as CheckpointResult;
}

/** Frames in the WAL at the last pass: what a pass copies new is what was added since. */
let previousLog = 0;

/** Pages in the WAL file (at most: after a restart, the file keeps its length until cut back). */
function walFrames(): number {
  try {
    return statSync(`${data.path}-wal`).size / frameBytes;
  } catch {
    return 0;
  }
}

/** Copies what it should now; false when it left the WAL alone (a bulk writer at work). */
function pass(): boolean {
  // A bulk writer is at work: copying now would compete with its commits for the disk. The
  // passes after it copy everything; then the writers' own checkpoint is back to normal.
  const bulkUntil = lock.bulkWritingUntil();
  if (bulkUntil > Date.now() && walFrames() < data.bulkDeferFrames) return false;
  let result = run();
  if (bulkUntil !== 0 && bulkUntil <= Date.now() && result.checkpointed >= result.log) {
    lock.bulkRunCopied(bulkUntil);
  }
  const added = result.log >= previousLog ? result.log - previousLog : result.log;
  previousLog = result.log;
  // Writers kept appending while the pass ran (frames it does not count), so the WAL never
  // empties and only grows. Once it is long, and the writers are adding little (the pass found
  // few new frames), finish with a pass while no writer of this process runs: it has only the
  // few frames written meanwhile to copy, and once all are copied the next write starts the WAL
  // from its beginning again. While writers add much (a recovery rewriting thousands of
  // messages per transaction), such a pass would hold them up for long: the writers' own
  // checkpoint (BACKSTOP_FRAMES) restarts the WAL then, finding most of it already copied.
  if (result.log >= data.restartAtFrames && added < data.fewFrames) {
    lock.acquireBlocking();
    try {
      result = run();
    } finally {
      lock.release();
    }
    previousLog = result.log;
  }
  return true;
}

/** After a failed pass the next waits this long, doubling up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
let failures = 0;

function schedule(delayMs: number): void {
  timer = setTimeout(() => {
    let copied: boolean;
    try {
      copied = pass();
    } catch (error) {
      // A full disk, a failing one, a lock another process holds too long: the writers' own
      // checkpoints take over (told once), and this thread tries again, less and less often.
      // Stopping for good here left the writers checkpointing in their commits until a restart,
      // after a disk that was full for a minute.
      if (failures === 0) parentPort?.postMessage({ failing: (error as Error).message });
      failures++;
      schedule(Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (failures - 1)));
      return;
    }
    // Only a pass that copied shows the copies work again (one that left the WAL to a bulk
    // writer tried nothing).
    if (failures > 0 && copied) {
      failures = 0;
      parentPort?.postMessage({ working: true });
    }
    schedule(data.intervalMs);
  }, delayMs);
}

parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  if (timer) clearTimeout(timer);
  sqlite.close();
  parentPort?.close();
});
schedule(data.intervalMs);
