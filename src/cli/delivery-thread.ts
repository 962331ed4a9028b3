/**
 * The body of `tegami serve`'s delivery thread (see serve-threads.ts): the worker, status
 * webhooks and the SendGrid event relay, on a connection of their own to the same database.
 * Its counts go to the main thread's metrics; the main thread wakes it when mail is accepted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import { createLogger } from '../ops/logger.ts';
import { SharedWriteLock } from '../store/index.ts';
import { configuredSecrets, loadConfig, sqliteFsyncFor } from './config.ts';
import type { FromDeliveryThread, ToDeliveryThread } from './serve-threads.ts';
import { type RunningService, startService } from './wire.ts';

const port = parentPort ?? notOnAThread();
function notOnAThread(): never {
  throw new Error('delivery-thread.ts runs as a worker thread');
}
const post = (message: FromDeliveryThread) => port.postMessage(message);

/** Counts gathered over one turn of the event loop, then handed over in one message. */
function forwardingTelemetry(): Telemetry {
  let calls: [keyof Telemetry, unknown[]][] = [];
  const record =
    (method: keyof Telemetry) =>
    (...args: unknown[]) => {
      if (calls.length === 0) {
        setImmediate(() => {
          post({ kind: 'telemetry', calls });
          calls = [];
        });
      }
      calls.push([method, args]);
    };
  return {
    messagesAccepted: record('messagesAccepted'),
    messagesHandedOver: record('messagesHandedOver'),
    attemptFinished: record('attemptFinished'),
    eventsIngested: record('eventsIngested'),
    statusWebhookPosted: record('statusWebhookPosted'),
  };
}

async function main(): Promise<void> {
  // Loading the modules above took as long as the main thread's own start; it ran meanwhile.
  // Now wait for its word that the database is migrated and the API listens.
  await new Promise<void>((resolve) =>
    port.once('message', (message: ToDeliveryThread) => {
      if (message.kind === 'start') resolve();
    }),
  );
  const config = loadConfig();
  const logger = createLogger(config.logLevel, configuredSecrets(config)).child({
    thread: 'delivery',
  });
  let service: RunningService;
  try {
    service = await startService({
      // What the main thread does once for the process: the first key, the console admin, the
      // metrics port.
      config: {
        ...config,
        bootstrapApiKey: null,
        consoleAdmin: null,
        metrics: { ...config.metrics, port: null },
      },
      logger,
      api: false,
      worker: true,
      // On SQLite this thread writes the API's submissions as well as its results.
      fsync: sqliteFsyncFor(config, true),
      housekeeping: false,
      writeLock: new SharedWriteLock((workerData as { writeLock: SharedArrayBuffer }).writeLock),
      checkpoints: 'shared',
      telemetry: forwardingTelemetry(),
    });
  } catch (error) {
    post({ kind: 'failed', message: (error as Error).message });
    port.close();
    return;
  }
  const running = service;
  port.on('message', (message: ToDeliveryThread) => {
    if (message.kind === 'wake') running.wake(message.what);
    if (message.kind === 'submit') {
      const { id } = message;
      running.writeGroup(message.group).then(
        (outcomes) => post({ kind: 'submitted', id, outcomes }),
        (error: { name?: string; message?: string; code?: string }) =>
          post({
            kind: 'submitted',
            id,
            error: {
              name: error?.name ?? 'Error',
              message: error?.message ?? String(error),
              ...(error?.code ? { code: error.code } : {}),
            },
          }),
      );
    }
    if (message.kind === 'stop') {
      running.stop().then(
        () => {
          post({ kind: 'stopped' });
          port.close();
        },
        (error: unknown) => {
          logger.error({ err: error }, 'stopping the delivery thread failed');
          post({ kind: 'stopped' });
          port.close();
        },
      );
    }
  });
  post({ kind: 'started' });
}

await main();
