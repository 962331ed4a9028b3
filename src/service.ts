import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './api/app.ts';
import { createApiKey, ensureBootstrapKey } from './api-keys.ts';
import type { Config } from './config.ts';
import type { Provider } from './domain/ports.ts';
import { SandboxProvider } from './providers/sandbox-provider.ts';
import { SendGridProvider } from './providers/sendgrid/sendgrid-provider.ts';
import { TestProvider } from './providers/test-provider.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  pendingMigrations,
} from './store/database.ts';
import { SqlApiKeyStore } from './store/sql-api-key-store.ts';
import { SqlDeliveryStore } from './store/sql-delivery-store.ts';
import { SqlMessageStore } from './store/sql-message-store.ts';
import { SqlProviderHealthStore } from './store/sql-provider-health-store.ts';
import { SqlSandboxOutbox } from './store/sql-sandbox-outbox.ts';
import { DeliveryWorker } from './worker/delivery-worker.ts';
import { releaseDeadLocalLeases } from './worker/lease-reaper.ts';

/**
 * Wires the adapters to the domain and starts what was asked for: the API, the worker, or both
 * (`tegami serve`). Nothing here runs at import time; `startService` starts and `stop` stops.
 */
export interface ServiceOptions {
  config: Config;
  logger: Logger;
  api: boolean;
  worker: boolean;
  /** Where to print what a person must see once (the first API key, the address). */
  announce?: (line: string) => void;
}

export interface RunningService {
  /** `http://host:port`, when the API runs. */
  url: string | null;
  app: FastifyInstance | null;
  worker: DeliveryWorker | null;
  database: DatabaseHandle;
  stop(): Promise<void>;
}

/** How long idempotency keys are remembered. */
const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;
const MAINTENANCE_INTERVAL_MS = 10 * 60_000;
const LEASE_REAPER_INTERVAL_MS = 10_000;

function createProvider(config: Config, outbox: SqlSandboxOutbox): Provider {
  if (config.sendgrid) return new SendGridProvider(config.sendgrid);
  const sandbox = new SandboxProvider(outbox);
  return config.provider === 'test' ? new TestProvider(sandbox) : sandbox;
}

export async function openAndMigrate(config: Config): Promise<DatabaseHandle> {
  const database = openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { config, logger } = options;
  const announce = options.announce ?? ((line: string) => logger.info(line));
  const database = await openAndMigrate(config);
  const keys = new SqlApiKeyStore(database);
  const messages = new SqlMessageStore(database);
  const outbox = new SqlSandboxOutbox(database, config.sandboxOutboxLimit);
  const health = new SqlProviderHealthStore(database);
  const timers: NodeJS.Timeout[] = [];
  let provider: Provider | null = null;

  if (config.bootstrapApiKey) {
    await ensureBootstrapKey(keys, config.bootstrapApiKey);
  } else if (options.api && (await keys.count()) === 0) {
    const { key, record } = await createApiKey(keys, 'first key (created at first start)');
    announce(
      `Created the first API key (${record.id}). It is shown only this once; keep it:\n\n    ${key}\n`,
    );
  }

  let worker: DeliveryWorker | null = null;
  if (options.worker) {
    const store = new SqlDeliveryStore(database);
    provider = createProvider(config, outbox);
    worker = new DeliveryWorker({
      store,
      provider,
      retry: config.retry,
      options: config.worker,
      circuit: config.circuit,
      health,
      logger: logger.child({ component: 'worker' }),
    });
    const reap = () =>
      releaseDeadLocalLeases(store, worker?.leaseOwner ?? '', logger).catch((err: unknown) =>
        logger.error({ err }, 'lease reaper failed'),
      );
    await reap();
    timers.push(setInterval(reap, LEASE_REAPER_INTERVAL_MS));
    worker.start();
  }

  let app: FastifyInstance | null = null;
  let url: string | null = null;
  if (options.api) {
    const inProcessWorker = worker;
    app = await buildApp({
      messages,
      findApiKey: (hash) => keys.findActiveByHash(hash),
      // The outbox exists only for providers that keep mail here instead of sending it.
      sandbox: config.provider === 'sendgrid' ? null : outbox,
      providers: { configured: config.provider, health },
      logger: logger.child({ component: 'api' }),
      ...(inProcessWorker ? { onAccepted: () => inProcessWorker.wake() } : {}),
      readiness: async () => {
        try {
          const pending = await pendingMigrations(database.db);
          return pending.length === 0
            ? { ready: true }
            : { ready: false, reason: `migrations not applied: ${pending.join(', ')}` };
        } catch (error) {
          return { ready: false, reason: `database unreachable: ${(error as Error).message}` };
        }
      },
    });
    url = await app.listen({ host: config.http.host, port: config.http.port });
    const prune = () =>
      messages
        .pruneIdempotencyKeys(Date.now() - IDEMPOTENCY_KEY_TTL_MS)
        .catch((err: unknown) => logger.error({ err }, 'pruning idempotency keys failed'));
    timers.push(setInterval(prune, MAINTENANCE_INTERVAL_MS));
  }
  for (const timer of timers) timer.unref();

  return {
    url,
    app,
    worker,
    database,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      // Stop taking requests first, then let the worker finish what it holds.
      if (app) await app.close();
      await messages.flushed();
      if (worker) await worker.stop();
      await provider?.close?.();
      await database.close();
    },
  };
}
