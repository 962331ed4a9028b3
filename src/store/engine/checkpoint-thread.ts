/**
 * The body of the background checkpoint thread (see background-checkpoints.ts): copies what the
 * WAL holds into the database file on its own connection, so the writing threads never wait
 * for those page writes and fsyncs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import type { CheckpointThreadData, CheckpointThreadReport } from './background-checkpoints.ts';
import { SharedWriteLock } from './write-lock.ts';

const data = workerData as CheckpointThreadData;
const sqlite = new SqliteDatabase(data.path);
// Only the checkpoints below write the database file from this connection.
sqlite.pragma('wal_autocheckpoint = 0');
sqlite.pragma('busy_timeout = 100');
const checkpoint = sqlite.prepare('pragma wal_checkpoint(PASSIVE)');
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

function pass(): void {
  let result = run();
  // Writers kept appending while the pass ran (frames it does not count), so the WAL never
  // empties and only grows. Once it is long, finish with a pass while no writer of this process
  // runs: the frames written meanwhile are few, and once all are copied the next write starts
  // the WAL from its beginning again.
  if (result.log >= data.restartAtFrames) {
    lock.acquireBlocking();
    try {
      result = run();
    } finally {
      lock.release();
    }
  }
  if (result.checkpointed > 0) {
    const report: CheckpointThreadReport = { log: result.log, checkpointed: result.checkpointed };
    parentPort?.postMessage(report);
  }
}

function schedule(): void {
  timer = setTimeout(() => {
    try {
      pass();
    } catch (error) {
      // The file went away or cannot be read: the writers' own checkpoints take over.
      parentPort?.postMessage({ error: (error as Error).message });
      sqlite.close();
      return;
    }
    schedule();
  }, data.intervalMs);
}

parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  if (timer) clearTimeout(timer);
  sqlite.close();
  parentPort?.close();
});
schedule();
