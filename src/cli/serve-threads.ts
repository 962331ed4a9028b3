import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import { SharedWriteLock } from '../store/index.ts';
import {
  type DeliveryWake,
  type RunningService,
  type ServiceOptions,
  startService,
} from './wire.ts';

/**
 * `tegami serve` on two threads on PostgreSQL, so it uses two cores: the API (with recoveries,
 * maintenance, alerts and metrics) on the main thread, delivery (the worker, status webhooks, the
 * event relay) on a thread of its own (delivery-thread.ts), each with its own connections. (On
 * SQLite two threads split the work differently: store/write/writer-thread.ts.) The write lock
 * they share matters only should this run on SQLite, where the two connections would take turns
 * through it. Nothing acknowledged lives only in a thread's memory: a message is committed
 * before the API answers, as with one thread, so a crash loses nothing.
 */
export type ToDeliveryThread =
  | { kind: 'start' }
  | { kind: 'wake'; what: DeliveryWake }
  | { kind: 'stop' };
export type FromDeliveryThread =
  | { kind: 'started' }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' }
  | { kind: 'telemetry'; calls: [keyof Telemetry, unknown[]][] };

const THREAD_BOOTSTRAP = new URL('../../bin/ts-thread.js', import.meta.url);

export async function startServeOnThreads(
  options: Omit<ServiceOptions, 'api' | 'worker'>,
  onThreadLost: (reason: string) => void,
): Promise<RunningService> {
  const writeLock = new SharedWriteLock();
  // The thread loads its modules while this thread starts the API.
  const starting = spawnDeliveryThread(writeLock, options.logger, onThreadLost);
  let thread: DeliveryThread | null = null;
  let main: RunningService;
  try {
    main = await startService({
      ...options,
      api: true,
      worker: false,
      writeLock,
      wakeDelivery: (what) => thread?.wake(what),
    });
  } catch (error) {
    await starting.abandon();
    throw error;
  }
  try {
    thread = await starting.start(main.telemetry);
  } catch (error) {
    await main.stop();
    throw error;
  }
  const delivery = thread;
  return {
    ...main,
    async stop() {
      // The API stops taking mail while delivery finishes the sends it holds.
      await Promise.all([main.stop(), delivery.stop()]);
    },
  };
}

interface DeliveryThread {
  wake(what: DeliveryWake): void;
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
