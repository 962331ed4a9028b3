import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Submission, SubmissionOutcome } from '../domain/ports/message-store.ts';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import { SharedWriteLock } from '../store/index.ts';
import {
  type DeliveryWake,
  type RunningService,
  type ServiceOptions,
  startService,
} from './wire.ts';

/**
 * `tegami serve` on two threads, so it uses two cores: the API (with recoveries, maintenance,
 * alerts and metrics) on the main thread, delivery (the worker, status webhooks, the event relay)
 * on a thread of its own (delivery-thread.ts), each with its own connections. On SQLite
 * (`submitOnThread`) the delivery thread also writes the API's submissions, whole groups handed
 * over in one message each way, so the messages' writes (accepting, results) share one
 * connection and its commits, and mail that may go at once is written leased to its worker
 * there (domain/hand-over.ts). The API's other writes take turns with the thread on the write
 * lock they share. Nothing acknowledged lives only in a thread's memory: a message is committed
 * before the API answers, as with one thread, so a crash loses nothing.
 */
export type ToDeliveryThread =
  | { kind: 'start' }
  | { kind: 'wake'; what: DeliveryWake }
  | { kind: 'submit'; id: number; group: Submission[] }
  | { kind: 'stop' };
export type FromDeliveryThread =
  | { kind: 'started' }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' }
  | { kind: 'telemetry'; calls: [keyof Telemetry, unknown[]][] }
  | { kind: 'submitted'; id: number; outcomes: SubmissionOutcome[] }
  | { kind: 'submitted'; id: number; error: { name: string; message: string; code?: string } };

const THREAD_BOOTSTRAP = new URL('../../bin/ts-thread.js', import.meta.url);

export async function startServeOnThreads(
  options: Omit<ServiceOptions, 'api' | 'worker'>,
  onThreadLost: (reason: string) => void,
  { submitOnThread }: { submitOnThread: boolean },
): Promise<RunningService> {
  const writeLock = new SharedWriteLock();
  // The thread loads its modules while this thread starts the API.
  const starting = spawnDeliveryThread(writeLock, options.logger, onThreadLost);
  let thread: DeliveryThread | null = null;
  let threadStarted: (thread: DeliveryThread | null) => void = () => {};
  const started = new Promise<DeliveryThread | null>((resolve) => (threadStarted = resolve));
  let main: RunningService;
  try {
    main = await startService({
      ...options,
      api: true,
      worker: false,
      writeLock,
      wakeDelivery: (what) => thread?.wake(what),
      // SQLite: the delivery thread writes every submission on the connection it claims and
      // records results on, and hands what may go at once to its worker (domain/hand-over.ts).
      ...(submitOnThread
        ? {
            submitGroupVia: async (group: Submission[]) => {
              const delivery = thread ?? (await started);
              if (!delivery) throw new Error('the delivery thread is not running');
              return delivery.submitGroup(group);
            },
          }
        : {}),
    });
  } catch (error) {
    threadStarted(null);
    await starting.abandon();
    throw error;
  }
  try {
    thread = await starting.start(main.telemetry);
    threadStarted(thread);
  } catch (error) {
    threadStarted(null);
    await main.stop();
    throw error;
  }
  const delivery = thread;
  return {
    ...main,
    async stop() {
      // The API stops taking mail while delivery finishes the sends it holds. Where the thread
      // writes the API's submissions, it stops once the API has answered the last request.
      if (submitOnThread) {
        await main.stop();
        await delivery.stop();
      } else {
        await Promise.all([main.stop(), delivery.stop()]);
      }
    },
  };
}

interface DeliveryThread {
  wake(what: DeliveryWake): void;
  /** Writes a group of submissions on the thread (see `submitGroupVia`). */
  submitGroup(group: Submission[]): Promise<SubmissionOutcome[]>;
  stop(): Promise<void>;
}

interface StartingThread {
  /** Lets the thread start its service, counting into `telemetry`. */
  start(telemetry: Telemetry): Promise<DeliveryThread>;
  /** The main thread could not start: the thread ends without starting. */
  abandon(): Promise<void>;
}

function spawnDeliveryThread(
  writeLock: SharedWriteLock,
  logger: Logger,
  onThreadLost: (reason: string) => void,
): StartingThread {
  const thread = new Worker(THREAD_BOOTSTRAP, {
    workerData: {
      module: new URL('./delivery-thread.ts', import.meta.url).href,
      writeLock: writeLock.buffer,
    },
  });
  let state: 'loading' | 'starting' | 'running' | 'stopping' | 'gone' = 'loading';
  const wakePosted = new Set<DeliveryWake>();
  let counts: Telemetry | null = null;
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  const post = (message: ToDeliveryThread) => thread.postMessage(message);
  let started: { resolve: () => void; reject: (error: Error) => void } | null = null;
  const submitting = new Map<
    number,
    { resolve: (outcomes: SubmissionOutcome[]) => void; reject: (error: Error) => void }
  >();
  let nextSubmission = 0;
  const failSubmissions = (reason: string) => {
    for (const waiting of submitting.values()) waiting.reject(new Error(reason));
    submitting.clear();
  };

  const handle: DeliveryThread = {
    // Mail accepted in one turn of the event loop is one wake-up, not one message each.
    wake(what) {
      if (wakePosted.has(what) || state !== 'running') return;
      wakePosted.add(what);
      setImmediate(() => {
        wakePosted.delete(what);
        if (state === 'running') post({ kind: 'wake', what });
      });
    },
    submitGroup(group) {
      return new Promise((resolve, reject) => {
        if (state !== 'running') return reject(new Error('the delivery thread is not running'));
        const id = nextSubmission++;
        submitting.set(id, { resolve, reject });
        post({ kind: 'submit', id, group });
      });
    },
    async stop() {
      if (state === 'gone') return;
      state = 'stopping';
      post({ kind: 'stop' });
      await exited;
    },
  };
  thread.on('message', (message: FromDeliveryThread) => {
    switch (message.kind) {
      case 'started':
        state = 'running';
        started?.resolve();
        break;
      case 'failed':
        state = 'gone';
        started?.reject(new Error(message.message));
        break;
      case 'telemetry':
        for (const [method, args] of message.calls) {
          if (counts) (counts[method] as (...a: unknown[]) => void)(...args);
        }
        break;
      case 'submitted': {
        const waiting = submitting.get(message.id);
        submitting.delete(message.id);
        // An error keeps its name and code: the API tells a busy database (503) from bad input.
        if ('error' in message)
          waiting?.reject(Object.assign(new Error(message.error.message), message.error));
        else waiting?.resolve(message.outcomes);
        break;
      }
      case 'stopped':
        break;
    }
  });
  thread.on('error', (error) => {
    logger.error({ err: error }, 'the delivery thread failed');
    started?.reject(error);
  });
  thread.on('exit', (code) => {
    const was = state;
    state = 'gone';
    failSubmissions(`the delivery thread exited (${code})`);
    started?.reject(new Error(`the delivery thread exited (${code})`));
    if (was === 'running') onThreadLost(`the delivery thread exited with code ${code}`);
  });

  return {
    start(telemetry) {
      counts = telemetry;
      if (state === 'gone') return Promise.reject(new Error('the delivery thread ended'));
      state = 'starting';
      return new Promise<DeliveryThread>((resolve, reject) => {
        started = { resolve: () => resolve(handle), reject };
        post({ kind: 'start' });
      });
    },
    async abandon() {
      state = 'gone';
      await thread.terminate();
    },
  };
}
