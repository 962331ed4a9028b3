// The other thread of sqlite-threads.test.ts: adds 1 to a shared cell `rounds` times, each time
// holding the shared write lock across a read, a pause and a write.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedWriteLock } from '../../src/store/engine/write-lock.ts';

const { lock, cell, rounds } = workerData as {
  lock: SharedArrayBuffer;
  cell: SharedArrayBuffer;
  rounds: number;
};
const writeLock = new SharedWriteLock(lock);
const counter = new Int32Array(cell);
for (let i = 0; i < rounds; i++) {
  writeLock.acquireBlocking();
  const seen = counter[0] ?? 0;
  const until = performance.now() + 0.05;
  while (performance.now() < until) {
    // hold the lock a moment, as a transaction would
  }
  counter[0] = seen + 1;
  writeLock.release();
}
parentPort?.postMessage('done');
