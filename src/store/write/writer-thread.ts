import { Worker } from 'node:worker_threads';
import type { SharedWriteLock } from '../engine/write-lock.ts';
import type { HotWrites } from './hot-writes.ts';

const THREAD_BOOTSTRAP = new URL('../../../bin/ts-thread.js', import.meta.url);

export type WriterRequest = { id: number; op: keyof HotWrites; arg: unknown };
export type WriterReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string; code?: string } }
  | { ready: true }
  | { failed: string };

/**
 * SQLite: the hot writes (HotWrites) on a thread of their own, which owns the connection they
 * are written on (`tegami serve` with TEGAMI_SERVE_THREADS=2; docs/architecture.md, "Threads of
 * `tegami serve`"). The asking thread hands over whole units of work, one message each way, and
 * gets each result, or its error with the error's code, back: a unit handed over one statement
 * at a time cost ~30 µs more CPU per statement (measured), a whole unit costs that once.
 * `onLost` is called if the thread ends other than by `stop`; what was handed to it and not
 * answered fails, and so does everything after.
 */
export async function startWriterThread(
  databaseUrl: string,
  writeLock: SharedWriteLock,
  onLost: (reason: string) => void,
): Promise<{ writes: HotWrites; stop(): Promise<void> }> {
  const thread = new Worker(THREAD_BOOTSTRAP, {
    workerData: {
      module: new URL('./writer-thread-body.ts', import.meta.url).href,
      databaseUrl,
      lock: writeLock.buffer,
    },
  });
  const waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  let next = 0;
  let gone: Error | null = null;
  let started = false;
  let stopping = false;
  const ready = new Promise<void>((resolve, reject) => {
    thread.on('message', (reply: WriterReply) => {
      if ('ready' in reply) {
        started = true;
        return resolve();
      }
      if ('failed' in reply) return reject(new Error(reply.failed));
      const w = waiting.get(reply.id);
      if (!w) return;
      waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply.value);
      else w.reject(Object.assign(new Error(reply.error.message), reply.error));
    });
    const end = (error: Error) => {
      gone ??= error;
      reject(gone);
      for (const w of waiting.values()) w.reject(gone);
      waiting.clear();
      if (started && !stopping) onLost(gone.message);
    };
    thread.once('error', (error) => end(new Error(`the writer thread failed: ${error.message}`)));
    thread.once('exit', (code) => end(new Error(`the writer thread exited with code ${code}`)));
  });
  await ready;
  const call = (op: keyof HotWrites, arg: unknown) =>
    new Promise<never>((resolve, reject) => {
      if (gone) return reject(gone);
      const id = next++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      thread.postMessage({ id, op, arg } satisfies WriterRequest);
    });
  return {
    writes: {
      submitGroup: (group) => call('submitGroup', group),
      claimDue: (request) => call('claimDue', request),
      completeGroup: (group) => call('completeGroup', group),
    },
    async stop() {
      stopping = true;
      thread.postMessage({ stop: true });
      await new Promise<void>((resolve) => {
        if (gone) resolve();
        else thread.once('exit', () => resolve());
      });
    },
  };
}
