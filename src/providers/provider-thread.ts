import { Worker } from 'node:worker_threads';
import type { Provider } from '../domain/ports/provider.ts';
import type { CredentialCheck, OutboundMessage, SendResult } from '../domain/types.ts';
import type { SendGridOptions } from './sendgrid/sendgrid-provider.ts';

/**
 * A network provider's calls on a thread of their own, behind the same `Provider` interface.
 *
 * In `tegami serve` on one thread, the API, the worker's decisions and SQLite's writes share one
 * event loop with the provider's HTTP client; that loop is the bound while the machine's other
 * core is half idle. A SendGrid call (building its JSON, undici, the socket's writes and reads)
 * was about a fifth of that loop's time (profiled). Here the loop only hands each message over
 * and takes its result back, grouped: every call made in one turn of the event loop crosses in
 * one message, and the thread answers the same way (about 8 µs per message for both crossings
 * in groups of 16, measured). The thread holds nothing that must survive: a message is leased in
 * the database while it is sent, so if the thread is lost the process exits (`onLost`) and the
 * leases give the mail to a worker again, as after any crash.
 */

/** Which provider the thread runs. */
export type ProviderThreadSpec = { kind: 'sendgrid'; options: SendGridOptions };

export type ToProviderThread =
  | { kind: 'send'; calls: SendCall[] }
  | { kind: 'verify'; id: number; abandonable: boolean }
  | { kind: 'abandon'; id: number }
  | { kind: 'close' };

/** One send; `abandoned` if its caller gave up before it crossed. */
export interface SendCall {
  id: number;
  message: OutboundMessage;
  abandonable: boolean;
  abandoned: boolean;
}

export type CallError = { name: string; message: string };
export type FromProviderThread =
  | {
      kind: 'sent';
      results: ({ id: number; result: SendResult } | { id: number; error: CallError })[];
    }
  | { kind: 'verified'; id: number; check: CredentialCheck }
  | { kind: 'verified'; id: number; error: CallError }
  | { kind: 'closed' };

const THREAD_BOOTSTRAP = new URL('../../bin/ts-thread.js', import.meta.url);
/** How long `close()` waits for the thread to end on its own before stopping it. */
const CLOSE_WAIT_MS = 5_000;

interface Waiting<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
  /** Removes the abort listener of the caller's signal, if any. */
  forget: () => void;
}

export function startProviderThread(
  spec: ProviderThreadSpec,
  onLost: (reason: string) => void,
): Provider {
  const thread = new Worker(THREAD_BOOTSTRAP, {
    workerData: { module: new URL('./provider-thread-main.ts', import.meta.url).href, spec },
  });
  // Keeps the process alive only while a call waits for its answer (a stopping worker waits for
  // its sends with nothing else left running); idle, `close()` or the process's exit ends it.
  thread.unref();
  let state: 'running' | 'closing' | 'gone' = 'running';
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  const sends = new Map<number, Waiting<SendResult>>();
  const verifies = new Map<number, Waiting<CredentialCheck>>();
  let nextId = 0;
  let batch: SendCall[] = [];
  let flushScheduled = false;

  const post = (message: ToProviderThread) => thread.postMessage(message);
  const flush = () => {
    flushScheduled = false;
    const calls = batch;
    batch = [];
    if (calls.length > 0 && state !== 'gone') post({ kind: 'send', calls });
  };
  /**
   * Lets the thread know when the caller gives up (`abandon`), until the answer is in. A send
   * still waiting to cross is marked instead: a message about it would overtake it.
   */
  const watch = (id: number, signal: AbortSignal | undefined, waitingToCross?: SendCall) => {
    if (!signal) return () => {};
    const onAbort = () => {
      if (waitingToCross && batch.includes(waitingToCross)) waitingToCross.abandoned = true;
      else if (state !== 'gone') post({ kind: 'abandon', id });
    };
    if (signal.aborted) {
      onAbort();
      return () => {};
    }
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  };
  let inFlight = 0;
  const begin = () => {
    if (inFlight++ === 0) thread.ref();
  };
  const settle = <T>(waiting: Map<number, Waiting<T>>, id: number) => {
    const entry = waiting.get(id);
    if (!entry) return undefined;
    waiting.delete(id);
    entry.forget();
    if (--inFlight === 0) thread.unref();
    return entry;
  };
  const lose = (reason: string) => {
    if (state === 'gone') return;
    const wasRunning = state === 'running';
    state = 'gone';
    const error = new Error(reason);
    for (const id of [...sends.keys()]) settle(sends, id)?.reject(error);
    for (const id of [...verifies.keys()]) settle(verifies, id)?.reject(error);
    if (wasRunning) onLost(reason);
  };

  thread.on('message', (message: FromProviderThread) => {
    switch (message.kind) {
      case 'sent':
        for (const answer of message.results) {
          const waiting = settle(sends, answer.id);
          if ('error' in answer) waiting?.reject(Object.assign(new Error(), answer.error));
          else waiting?.resolve(answer.result);
        }
        break;
      case 'verified': {
        const waiting = settle(verifies, message.id);
        if ('error' in message) waiting?.reject(Object.assign(new Error(), message.error));
        else waiting?.resolve(message.check);
        break;
      }
      case 'closed':
        break;
    }
  });
  thread.on('error', (error) => lose(`the provider thread failed: ${error.message}`));
  thread.on('exit', (code) => lose(`the provider thread exited (${code})`));

  return {
    name: spec.kind,
    send(message, abandon) {
      return new Promise((resolve, reject) => {
        if (state !== 'running') {
          reject(new Error('the provider thread is not running'));
          return;
        }
        const id = nextId++;
        const call: SendCall = {
          id,
          message,
          abandonable: abandon !== undefined,
          abandoned: false,
        };
        batch.push(call);
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
        sends.set(id, { resolve, reject, forget: watch(id, abandon, call) });
        begin();
      });
    },
    verify(signal) {
      return new Promise((resolve, reject) => {
        if (state !== 'running') {
          reject(new Error('the provider thread is not running'));
          return;
        }
        const id = nextId++;
        post({ kind: 'verify', id, abandonable: signal !== undefined });
        verifies.set(id, { resolve, reject, forget: watch(id, signal) });
        begin();
      });
    },
    async close() {
      if (state !== 'running') return;
      flush();
      state = 'closing';
      post({ kind: 'close' });
      const timer = setTimeout(() => void thread.terminate(), CLOSE_WAIT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
