/** The writer thread's body (writer-thread.ts): its own connection, the hot writes on it. */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from '../engine/sqlite.ts';
import { SharedWriteLock } from '../engine/write-lock.ts';
import { localHotWrites } from './hot-writes.ts';
import type { WriterReply, WriterRequest } from './writer-thread.ts';

const port = parentPort ?? notOnAThread();
function notOnAThread(): never {
  throw new Error('writer-thread-body.ts runs as a worker thread');
}
const data = workerData as { databaseUrl: string; lock: SharedArrayBuffer };
const post = (reply: WriterReply) => port.postMessage(reply);

try {
  const handle = openSqlite(data.databaseUrl, {
    writeLock: new SharedWriteLock(data.lock),
    checkpoints: 'shared',
  });
  const writes = localHotWrites(handle);
  port.on('message', (request: WriterRequest | { stop: true }) => {
    if ('stop' in request) {
      void handle.close().finally(() => port.close());
      return;
    }
    const op = writes[request.op] as (arg: unknown) => Promise<unknown>;
    op(request.arg).then(
      (value) => post({ id: request.id, ok: true, value }),
      (error: { name?: string; message?: string; code?: string }) =>
        post({
          id: request.id,
          ok: false,
          error: {
            name: error?.name ?? 'Error',
            message: error?.message ?? String(error),
            ...(error?.code ? { code: error.code } : {}),
          },
        }),
    );
  });
  post({ ready: true });
} catch (error) {
  post({ failed: (error as Error).message });
}
