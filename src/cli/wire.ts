import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerConsole } from '../console/plugin.ts';
import { releaseDeadLocalLeases, releaseExpiredLeases } from '../delivery/lease-reaper.ts';
import { DeliveryWorker } from '../delivery/worker.ts';
import { AlertsService } from '../domain/alerts/service.ts';
import {
  type BootstrapKeyChange,
  createFirstApiKey,
  ensureBootstrapKey,
  hashApiKey,
} from '../domain/api-keys.ts';
import { ConsoleAccounts } from '../domain/console-accounts.ts';
import { count } from '../domain/count-words.ts';
import { HandOffSlot } from '../domain/hand-over.ts';
import { START_ACTORS } from '../domain/operations/audit.ts';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import type { DeliveryEventStore } from '../domain/ports/delivery-event-store.ts';
import type { Submission, SubmissionOutcome } from '../domain/ports/message-store.ts';
import type { Provider } from '../domain/ports/provider.ts';
import type { SandboxOutbox } from '../domain/ports/sandbox-outbox.ts';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import { UnitDefaultPriorities } from '../domain/priority.ts';
import { UnitRateLimits } from '../domain/unit-rate-limit.ts';
import { buildApp } from '../http/app.ts';
import { buildMetricsApp } from '../http/metrics-app.ts';
import type { EventWebhookOptions } from '../http/routes/event-webhook.ts';
import { type AlertEvaluator, startAlertEvaluator } from '../ops/alerts/evaluator.ts';
import { type ClusterJobs, startClusterJobs } from '../ops/cluster-jobs.ts';
import { createMetrics } from '../ops/metrics/registry.ts';
import { OutageLog } from '../ops/outage-log.ts';
import { ProviderMismatchLog } from '../ops/provider-mismatch-log.ts';
import { startProviderThread } from '../providers/provider-thread.ts';
import { renderMime } from '../providers/render-mime.ts';
import { renderSandboxMime, SandboxProvider } from '../providers/sandbox/sandbox-provider.ts';
import { loadPublicKey, sendgridEventSource } from '../providers/sendgrid/event-source.ts';
import { SendGridProvider } from '../providers/sendgrid/sendgrid-provider.ts';
import { TestProvider } from '../providers/test-provider.ts';
import { type SmtpIngress, type SmtpIngressOptions, startSmtpIngress } from '../smtp/server.ts';
import { createAlertStore } from '../store/alerts/index.ts';
import { consoleUserStore } from '../store/console/store.ts';
import { traffic } from '../store/console/traffic.ts';
import {
  appliedMigrations,
  createStores,
  type DatabaseHandle,
  isPostgresUrl,
  migrateToLatest,
  missingMigrations,
  type OpenOptions,
  openDatabase,
  redactUrl,
  releaseWaitingUnknown,
  type SharedWriteLock,
  SqlLeaderLease,
  SqlUnitRateWindows,
  sqlitePathFromUrl,
  unknownMigrations,
} from '../store/index.ts';
import { createMonitoringQueries } from '../store/monitoring/index.ts';
import { sqlSendGridEventRelayStore } from '../store/sendgrid-compat/event-relay-store.ts';
import { checkDestination, GuardedPoster } from '../tracking/guarded-post.ts';
import { EventRelaySender } from '../tracking/sendgrid-relay/relay-sender.ts';
import { withEventRelay } from '../tracking/sendgrid-relay/with-event-relay.ts';
import { StatusWebhookSender } from '../tracking/status-webhooks/sender.ts';
import type { Config } from './config.ts';
import { databaseReadiness } from './readiness.ts';
import {
  createOperations,
  eventsConfirm,
  operationsMaintenance,
  operationsRetention,
  startOperationsJobs,
} from './wire-operations.ts';

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
  /**
   * Aborting it (SIGTERM or SIGINT while starting) gives up the start: what was opened is
   * released and `startService` rejects with `StartAborted`.
   */
  signal?: AbortSignal;
  /**
   * Set when another thread of this process opens the same SQLite file (`tegami serve`'s
   * delivery thread): both take turns on this lock for writing.
   */
  writeLock?: SharedWriteLock;
  /**
   * Who checkpoints a SQLite WAL: `thread` (default) starts a checkpoint thread; `shared` leaves
   * it to another thread of this process that does.
   */
  checkpoints?: 'thread' | 'shared';
  /** Where SQLite's fsyncs run on this thread (config.ts: sqliteFsyncFor); unsaid, the pool. */
  fsync?: 'inline' | 'thread';
  /**
   * Cluster-wide chores (maintenance, alert rules, a metrics port): off on a thread that only
   * delivers, since the main thread of its process runs them.
   */
  housekeeping?: boolean;
  /** Where counts go instead of this service's own metrics (a thread forwards to its parent). */
  telemetry?: Telemetry;
  /**
   * Wakes delivery running elsewhere in this process (another thread): its worker when mail is
   * due, its SendGrid event relay when events are queued for forwarding.
   */
  wakeDelivery?: (what: DeliveryWake) => void;
  /**
   * Where groups of submissions are written instead of here: `tegami serve`'s delivery thread on
   * SQLite, which writes them on its connection and hands what may go at once to its worker.
   */
  submitGroupVia?: (group: Submission[]) => Promise<SubmissionOutcome[]>;
  /**
   * Set to call a network provider (SendGrid) on a thread of its own (providers/provider-thread.ts);
   * `onLost` is told if that thread ends unasked. The sandbox always runs here.
   */
  providerThread?: { onLost: (reason: string) => void };
}

export type DeliveryWake = 'worker' | 'relay';

export interface RunningService {
  /** `http://host:port`, when the API runs. */
  url: string | null;
  /** SMTP submission, when the API runs and TEGAMI_SMTP_PORT is set. */
  smtp: SmtpIngress | null;
  app: FastifyInstance | null;
  worker: DeliveryWorker | null;
  database: DatabaseHandle;
  /** Where this service counts (its metrics); a delivery thread's counts are added here. */
  telemetry: Telemetry;
  /** Wakes this service's own worker or event relay (for a thread asked by its main thread). */
  wake(what: DeliveryWake): void;
  /** Writes a group of submissions formed by another thread's API, now (one commit). */
  writeGroup(group: Submission[]): Promise<SubmissionOutcome[]>;
  /**
   * Begins a stop's drain (TEGAMI_SHUTDOWN_DRAIN_S): the API keeps serving, but `/readyz`
   * answers 503 and each answer closes its connection. `stop` follows when the drain is over.
   */
  drain(): void;
  stop(): Promise<void>;
}

const LEASE_REAPER_INTERVAL_MS = 10_000;
/**
 * Longest wait for releasing what a failed start opened. A PostgreSQL connection still being
 * opened cannot be cancelled; the process exits anyway, and nothing it holds needs finishing.
 */
const FAILED_START_RELEASE_MS = 3_000;

/** The database could not be reached or prepared at start. */
export class DatabaseUnavailableError extends Error {}

/** The API could not listen on its address (port in use, no permission, no such address). */
export class ListenError extends Error {}

/** A signal asked the process to stop while it was starting. */
export class StartAborted extends Error {}

function createProvider(
  config: Config,
  outbox: SandboxOutbox,
  thread: ServiceOptions['providerThread'],
): Provider {
  if (config.sendgrid) {
    return thread
      ? startProviderThread({ kind: 'sendgrid', options: config.sendgrid }, thread.onLost)
      : new SendGridProvider(config.sendgrid);
  }
  const sandbox = new SandboxProvider(outbox);
  return config.provider === 'test' ? new TestProvider(sandbox) : sandbox;
}

/** Rejects with `StartAborted` as soon as `signal` aborts, even if `work` never settles. */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(new StartAborted('stopped while starting'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StartAborted('stopped while starting'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Waits for `work`, but at most `ms`; never rejects (for releasing things after a failure). */
async function atMost(work: Promise<unknown>, ms: number, logger?: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch((err: unknown) => logger?.warn({ err }, 'releasing after a failed start failed')),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

export interface OpenAndMigrateOptions extends Omit<OpenOptions, 'poolSize'> {
  /**
   * Refuse a SQLite file that does not exist instead of creating it (commands that read or act
   * on existing data: a typo in the path must not show an empty database). PostgreSQL is not
   * concerned: a wrong database name fails to connect anyway.
   */
  mustExist?: boolean;
  /**
   * What to do with a database an earlier release made (some migrations applied, some of this
   * release's not): `apply` them (`tegami migrate`, and the long-running processes), or
   * `refuse` (commands that read or act on data: looking at the unsent view from a new release
   * must not change the schema under the earlier release's processes). A new database is
   * migrated either way.
   */
  upgrade?: 'apply' | 'refuse';
}

/**
 * Why a SQLite database the command needs is not there, or null: the path does not exist (an
 * in-memory database always "exists"). Checked before opening, which would create the file.
 */
function missingSqliteFile(databaseUrl: string): string | null {
  if (isPostgresUrl(databaseUrl)) return null;
  let path: string;
  try {
    path = sqlitePathFromUrl(databaseUrl);
  } catch {
    return null; // a malformed URL: opening it reports why
  }
  if (path === ':memory:' || existsSync(path)) return null;
  const absolute = resolve(path);
  // As written (a SQLite URL holds no password; redactUrl would percent-encode a space).
  return `no database exists at ${databaseUrl}${absolute === path ? '' : ` (no file ${absolute})`}; check TEGAMI_DATABASE_URL, or start tegami once (or run tegami migrate) to create it`;
}

/** PostgreSQL's SQLSTATE for "permission denied" (insufficient_privilege). */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Said after PostgreSQL's "permission denied for schema public" (or "for database …"): since
 * PostgreSQL 15 a user that does not own the database may not create tables in `public`, and
 * Tegami creates and alters its own tables at every migration.
 */
const PRIVILEGE_HINT =
  '; the user in TEGAMI_DATABASE_URL must be allowed to create and alter tables there: make it the owner of the database (createdb --owner), or of the ?schema= (CREATE SCHEMA … AUTHORIZATION …), as docs/deploy.md shows';

export async function openAndMigrate(
  config: Config,
  signal?: AbortSignal,
  { mustExist = false, upgrade = 'apply', ...options }: OpenAndMigrateOptions = {},
): Promise<{ database: DatabaseHandle; applied: string[] }> {
  const where = redactUrl(config.databaseUrl);
  const describe = (error: unknown) => {
    const cause = error as { message?: string; code?: string };
    const reason = cause.message || cause.code || String(error);
    return `cannot use the database at ${where}: ${reason}${cause.code === INSUFFICIENT_PRIVILEGE ? PRIVILEGE_HINT : ''}`;
  };
  if (mustExist) {
    const missing = missingSqliteFile(config.databaseUrl);
    if (missing) throw new DatabaseUnavailableError(missing);
  }
  let database: DatabaseHandle;
  try {
    database = openDatabase(config.databaseUrl, {
      ...options,
      poolSize: config.databasePoolSize,
      postgresPrepare: config.postgresPrepare,
    });
  } catch (error) {
    // A folder that cannot be made, a file that is not a database: nothing was opened.
    throw new DatabaseUnavailableError(describe(error));
  }
  let refusal: string | null = null;
  try {
    const before = await unlessAborted(appliedMigrations(database.db), signal);
    const newer = unknownMigrations(before);
    const missing = missingMigrations(before);
    if (newer.length > 0) {
      refusal = `the database at ${where} was migrated by a newer Tegami release (${newer.join(', ')}): run that release, or restore the backup taken before the upgrade`;
    } else if (upgrade === 'refuse' && before.length > 0 && missing.length > 0) {
      refusal = `the database at ${where} is an earlier release's: ${missing.length} migration${missing.length === 1 ? '' : 's'} of this release ${missing.length === 1 ? 'is' : 'are'} not applied (${missing.join(', ')}); run \`tegami migrate\` first, after stopping the earlier release's processes (docs/deploy.md)`;
    } else {
      const applied = await unlessAborted(migrateToLatest(database.db), signal);
      return { database, applied };
    }
  } catch (error) {
    await atMost(database.close(), FAILED_START_RELEASE_MS);
    if (error instanceof StartAborted) throw error;
    throw new DatabaseUnavailableError(describe(error));
  }
  await atMost(database.close(), FAILED_START_RELEASE_MS);
  throw new DatabaseUnavailableError(refusal);
}

/**
 * Starts what `options` asks for. Nothing is left running when it fails: whatever was opened
 * (database, port, worker) is released before it rejects, so the process can exit and its
 * supervisor start it again. The API listens before the first API key is created and printed,
 * so a start that cannot listen creates no key.
 */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { config, logger, signal } = options;
  const announce = options.announce ?? ((line: string) => logger.info(line));
  const housekeeping = options.housekeeping ?? true;
  const { database, applied } = await openAndMigrate(config, signal, {
    writeLock: options.writeLock,
    checkpoints: options.checkpoints ?? 'thread',
    applicationName: `tegami ${options.api && options.worker ? 'serve' : options.api ? 'api' : 'worker'}`,
    ...(options.fsync ? { fsync: options.fsync } : {}),
    logger,
  });
  // An upgrade (or a new database) changed the schema: say so, it is not undone by going back.
  if (applied.length > 0) {
    logger.info(
      { migrations: applied },
      `applied ${count(applied.length, 'migration')} to the database`,
    );
  }
  // Accepted mail goes straight to the worker of this thread when it can (domain/hand-over.ts).
  const handOff = options.worker && config.worker.handOff ? new HandOffSlot() : null;
  const stores = createStores(database, {
    sandboxOutboxLimit: config.sandboxOutboxLimit,
    suppressBlocks: config.suppressBlocks,
    eventMatchWindowMs: config.eventMatchWindowMs,
    resultCommit: config.worker.resultCommit,
    submissions: {
      ...(options.submitGroupVia ? { submitGroupVia: options.submitGroupVia } : {}),
      ...(handOff ? { handOff } : {}),
    },
  });
  const {
    apiKeys: keys,
    messages,
    sandboxOutbox: outbox,
    providerHealth: health,
    deliveryEvents,
    suppressions,
    statusWebhooks: webhooks,
  } = stores;
  const relayStore = sqlSendGridEventRelayStore(database);
  // Set once a relay sender runs in this process, so events queued here go out at once.
  const wakeRelay = { fn: () => options.wakeDelivery?.('relay') };
  // Filled in below once the worker and the runner exist; the service calls these later.
  const wakeRunner = { fn: () => {} };
  const wakeWorkers = {
    fn: () => {
      options.wakeDelivery?.('worker');
      database.notify('tegami_due');
    },
  };
  const operations = createOperations(database, config, {
    messages,
    onRecoveryStarted: () => wakeRunner.fn(),
    onRequeued: () => wakeWorkers.fn(),
  });
  const accounts = consoleAccounts(database);
  const eventsExpected = eventsConfirm(config);
  const alertStore = createAlertStore(database);
  const monitoringQueries = createMonitoringQueries(database);
  const listUnits = () => operations.units.list();
  // One per process: an outage is one "down" and one "back" line, whichever loops notice it.
  const outage = new OutageLog(logger);
  const metrics = createMetrics({
    queries: monitoringQueries,
    health,
    listUnits,
    firingAlerts: () => alertStore.firing(),
    undeliveredNotifications: (since) => alertStore.undeliveredNotifications(since),
    unsentByReason: async () => (await operations.service.unsentSummary(ALL_UNITS, {})).byReason,
    configuredProvider: config.provider,
    cacheMs: config.metrics.cacheMs,
    databaseFailing: () => outage.failingNow,
  });
  const telemetry = options.telemetry ?? metrics.telemetry;
  const monitoringView = {
    metrics: () => metrics.render(),
    metricsToken: config.metrics.token,
    firing: () => alertStore.firing(),
  };
  // Alert notifications: a unit's Slack URL (set through the API) is guarded like status
  // webhooks; the URLs of the environment are the operator's and trusted, like the provider's.
  const alertTimeoutMs = 10_000;
  const guardedPoster = new GuardedPoster({
    allowPrivate: config.webhooks.allowPrivate,
    timeoutMs: alertTimeoutMs,
  });
  const trustedPoster = new GuardedPoster({ allowPrivate: true, timeoutMs: alertTimeoutMs });
  const timers: NodeJS.Timeout[] = [];
  let provider: Provider | null = null;
  let stopListening = () => {};
  let worker: DeliveryWorker | null = null;
  /** What a dead worker's sends count as (see delivery/lease-reaper.ts). */
  let lostSends = { provider: '', proofWaitMs: 0 };
  let statusWebhooks: StatusWebhookSender | null = null;
  let eventRelay: EventRelaySender | null = null;
  let app: FastifyInstance | null = null;
  let smtp: SmtpIngress | null = null;
  let clusterJobs: ClusterJobs | null = null;
  let operationsJobs: ReturnType<typeof startOperationsJobs> | null = null;
  let alertEvaluator: AlertEvaluator | null = null;
  let metricsApp: FastifyInstance | null = null;
  let mismatchLog: ProviderMismatchLog | null = null;
  /** The lease sweep under way (lease-reaper.ts): a stop waits for it before closing the database. */
  let sweeping: Promise<void> | null = null;
  let draining = false;

  async function stop(): Promise<void> {
    for (const timer of timers) clearInterval(timer);
    stopListening();
    // The cluster's chores (maintenance, alert rules) start no round from now on: however long
    // the rest of the stop waits (requests under way, sends), a stopping process must not take
    // their leases and begin pruning or alerting (a drill: a stop waiting on a client's
    // keep-alive connection took both leases of a killed predecessor once they expired). A round
    // under way ends meanwhile; its lease is released before the database closes.
    const choresStopped = Promise.all([clusterJobs?.stop(), alertEvaluator?.stop()]).catch(
      (err: unknown) => logger.warn({ err }, 'stopping the cluster jobs failed'),
    );
    // Stop taking requests first (SMTP sessions hand their mail to the API: before it), then
    // let the worker finish what it holds.
    if (smtp) await smtp.close();
    if (app) await app.close();
    if (metricsApp) await metricsApp.close();
    await messages.flushed();
    await operationsJobs?.stop();
    await mismatchLog?.stop();
    if (worker) await worker.stop();
    await statusWebhooks?.stop();
    await eventRelay?.stop();
    await choresStopped;
    await sweeping;
    await guardedPoster.close();
    await trustedPoster.close();
    await provider?.close?.();
    await database.close();
  }

  try {
    if (config.bootstrapApiKey) {
      const bootstrapKey = config.bootstrapApiKey;
      // Its audit event is written in the change's own transaction; this only logs the change.
      const ensured = ensureBootstrapKey(keys, bootstrapKey, START_ACTORS.bootstrapKey).then(
        (change) => logBootstrapKey(change, logger),
      );
      await unlessAborted(ensured, signal);
    }

    if (options.worker) {
      const store = stores.delivery;
      provider = createProvider(config, outbox, options.providerThread);
      if (options.providerThread && config.sendgrid) {
        logger.info({ provider: provider.name }, 'provider calls run on a thread of their own');
      }
      // Waiting for proof only makes sense when delivery events can arrive.
      const proofWaitMs =
        config.sendgridWebhook.publicKey || config.sendgridWebhook.insecure
          ? config.unknownOutcomeWaitMs
          : 0;
      lostSends = { provider: provider.name, proofWaitMs };
      worker = new DeliveryWorker({
        store,
        provider,
        retry: config.retry,
        options: config.worker,
        circuit: config.circuit,
        health,
        // Waiting for proof only makes sense when delivery events can arrive.
        confirmationWaitMs: proofWaitMs,
        releaseWaiting: (ids, now) => releaseWaitingUnknown(database, ids, now),
        probeRequestedAt: (name) => operations.probes.requestedAt(name),
        telemetry,
        ...(config.sendgrid ? { providerConcurrency: config.sendgrid.maxConcurrency } : {}),
        logger: logger.child({ component: 'worker' }),
        outage,
      });
      handOff?.attach(worker);
    }

    let url: string | null = null;
    if (options.api) {
      const inProcessWorker = worker;
      // One service for the API's /v1/alerts and the console's alerts page.
      const alertsService = new AlertsService({
        store: alertStore,
        units: operations.units,
        checkDestination: (url) => checkDestination(url, config.webhooks.allowPrivate),
      });
      app = await buildApp({
        trustedProxies: config.trustedProxies,
        messages,
        findApiKey: (hash) => keys.findActiveByHash(hash),
        // The outbox exists only for providers that keep mail here instead of sending it.
        sandbox: config.provider === 'sendgrid' ? null : { outbox, renderMime: renderSandboxMime },
        providers: {
          configured: config.provider,
          health,
          countUnconfirmed: (now) =>
            messages.countUnconfirmed(now - config.unconfirmedAfterMs, now),
        },
        unconfirmedAfterMs: config.unconfirmedAfterMs,
        batchMaxRecipients: config.batchMaxRecipients,
        // Read at most every 5 s per unit (UNIT_LIMIT_CACHE_MS): a changed limit holds in every
        // process within that, and accepting mail costs no extra read. On PostgreSQL, where
        // several API processes take a unit's mail, they count in one shared window.
        unitRateLimits: new UnitRateLimits({
          limitOf: async (unitId) =>
            (await alertStore.unitSettingsOf(unitId))?.rateLimitPerMin ?? null,
          defaultPerMin: config.unitRateLimitPerMin,
          ...(database.engine === 'postgres'
            ? {
                shared: new SqlUnitRateWindows(database),
                onSharedError: (err: unknown) =>
                  logger.warn({ err }, 'a unit sending-limit count could not be updated'),
              }
            : {}),
        }),
        unitPriorities: new UnitDefaultPriorities({
          priorityOf: async (unitId) =>
            (await alertStore.unitSettingsOf(unitId))?.defaultPriority ?? null,
        }),
        messageEvents: deliveryEvents,
        suppressions,
        operations: operations.service,
        webhookEndpoints: {
          store: webhooks,
          operations: operations.service,
          checkDestination: (url) => checkDestination(url, config.webhooks.allowPrivate),
          clock: Date.now,
        },
        eventWebhooks: eventWebhooks(
          config,
          withEventRelay(deliveryEvents, relayStore, () => wakeRelay.fn()),
          logger,
        ).map((w) => ({
          ...w,
          telemetry,
        })),
        sendgridEventRelay: {
          store: relayStore,
          operations: operations.service,
          checkDestination: (url) => checkDestination(url, config.webhooks.allowPrivate),
          clock: Date.now,
        },
        telemetry,
        monitoring: {
          ...monitoringView,
          // With its own port, /metrics is not on the API's.
          metrics: config.metrics.port === null ? monitoringView.metrics : null,
        },
        alerts: alertsService,
        logger: logger.child({ component: 'api' }),
        outage,
        onAccepted: () => {
          inProcessWorker?.wake();
          options.wakeDelivery?.('worker');
          database.notify('tegami_due');
        },
        readiness: databaseReadiness(database),
        draining: () => draining,
      });
      if (config.consoleAdmin) {
        const { email, password } = config.consoleAdmin;
        if (
          await unlessAborted(
            accounts.ensureAdmin(START_ACTORS.firstAdmin, email, password),
            signal,
          )
        ) {
          announce(`Created the console admin ${email} (TEGAMI_ADMIN_EMAIL).`);
        }
      }
      await registerConsole(app, {
        accounts,
        operations: operations.service,
        alerts: alertsService,
        messages,
        messageEvents: deliveryEvents,
        suppressions,
        keys,
        webhooks,
        checkDestination: (url) => checkDestination(url, config.webhooks.allowPrivate),
        providers: { configured: config.provider, health },
        eventsExpected,
        traffic: { traffic: (since, unitId) => traffic(database, since, unitId) },
        renderMime: async (record) =>
          (
            await renderMime({
              id: record.id,
              attempt: record.attemptCount,
              content: record.content,
            })
          ).toString('utf8'),
        secureCookies: config.consoleSecureCookies,
        logger: logger.child({ component: 'console' }),
      });
      signal?.throwIfAborted();
      url = await listen(app, config.http.host, config.http.port);
      // An API process on another provider than its workers describes the wrong one: say so.
      mismatchLog = new ProviderMismatchLog({
        health,
        configured: config.provider,
        logger: logger.child({ component: 'api' }),
      });
      mismatchLog.start();
      if (config.smtp) smtp = await startSmtp(config.smtp, app, keys, logger);
      // Only now that the port is ours: a start that cannot listen must not create a key.
      // The count is a cheap look that spares every later start a write transaction; whether
      // this start makes the key is decided under a lock (createFirstApiKey).
      if (!config.bootstrapApiKey && (await keys.count()) === 0) {
        // Its key.create is written with it, in one transaction (createFirstApiKey).
        const first = await createFirstApiKey(keys, START_ACTORS.firstKey);
        if (first) {
          const { key, record } = first;
          announce(
            `Created the first API key (${record.id}). It is shown only this once; keep it:\n\n    ${key}\n`,
          );
        } else {
          // Said, so that whoever reads this process's output looks for the key elsewhere.
          announce(
            'Created no API key: another process made one meanwhile (a start at the same time prints the first key in its own output only).',
          );
        }
      }
    }

    if (worker) {
      const running = worker;
      const store = stores.delivery;
      // One sweep at a time: on a slow database they would pile up, each holding a connection.
      // The two steps fail apart, so a failing first one does not stop the second.
      const step = (operation: string, work: () => Promise<unknown>) =>
        work().then(
          () => outage.succeeded(operation),
          (err: unknown) => outage.failed(operation, err),
        );
      const reap = () => {
        sweeping ??= step('freeing leases of dead workers', () =>
          releaseDeadLocalLeases(store, running.leaseOwner, lostSends, logger),
        )
          .then(() =>
            step('releasing expired leases', () =>
              releaseExpiredLeases(store, lostSends, logger, running.heldMessageIds()),
            ),
          )
          .finally(() => {
            sweeping = null;
          });
        return sweeping;
      };
      await unlessAborted(reap(), signal);
      timers.push(setInterval(reap, LEASE_REAPER_INTERVAL_MS));
      signal?.throwIfAborted();
      running.start();
      statusWebhooks = new StatusWebhookSender({
        store: webhooks,
        ...config.webhooks,
        telemetry,
        logger: logger.child({ component: 'webhooks' }),
        outage,
      });
      statusWebhooks.start();
      const relay = new EventRelaySender({
        store: relayStore,
        allowPrivate: config.webhooks.allowPrivate,
        retryBaseMs: config.webhooks.retryBaseMs,
        retryWindowMs: config.webhooks.retryWindowMs,
        pollIntervalMs: config.webhooks.pollIntervalMs,
        timeoutMs: config.webhooks.timeoutMs,
        logger: logger.child({ component: 'sendgrid-relay' }),
        outage,
      });
      eventRelay = relay;
      relay.start();
      wakeRelay.fn = () => relay.wake();
      // PostgreSQL: API processes elsewhere announce new mail; polling remains the backstop.
      stopListening = database.listen('tegami_due', () => running.wake());
    }
    const inProcess = worker;
    wakeWorkers.fn = () => {
      inProcess?.wake();
      options.wakeDelivery?.('worker');
      database.notify('tegami_due');
    };
    // Recoveries are started through the API and worked by API processes (one at a time per
    // recovery, by lease); worker processes only send.
    operationsJobs = options.api
      ? startOperationsJobs(database, operations, logger, () => wakeWorkers.fn(), outage)
      : null;
    const runner = operationsJobs;
    wakeRunner.fn = () => runner?.runner.wake();
    for (const timer of timers) timer.unref();
    clusterJobs = !housekeeping
      ? null
      : startClusterJobs({
          store: stores.maintenance,
          retentionDays: config.retentionDays,
          retentionJobs: [
            ...operationsRetention(operations, config),
            // Relayed events given up on go with the messages they were about.
            async (now) => ({
              failedRelayEvents: await relayStore.pruneFailed(
                now - config.retentionDays * 86_400_000,
                10_000,
              ),
            }),
          ],
          extraJobs: [
            ...operationsMaintenance(database),
            // Ended console sessions are removed once per cluster, like other maintenance.
            () => accounts.prune(),
          ],
          logger,
          outage,
        });
    if (housekeeping && config.metrics.port !== null) {
      metricsApp = await buildMetricsApp(monitoringView);
      const metricsUrl = await listen(metricsApp, config.http.host, config.metrics.port);
      logger.info({ url: `${metricsUrl}/metrics` }, 'metrics served on their own port');
    }
    // Every process competes for the alerts lease; one evaluates the rules for the cluster.
    alertEvaluator = !housekeeping
      ? null
      : startAlertEvaluator({
          lease: (holder) => new SqlLeaderLease(database, 'alerts', holder),
          store: alertStore,
          sources: {
            queries: monitoringQueries,
            health,
            listUnits,
            configuredProvider: config.provider,
            eventsExpected,
            unconfirmedAfterMs: config.unconfirmedAfterMs,
          },
          post: (url, headers, body) => guardedPoster.post(url, headers, body),
          postTrusted: (url, headers, body) => trustedPoster.post(url, headers, body),
          options: config.alerts,
          logger,
          outage,
        });
    signal?.throwIfAborted();
    const wake = (what: DeliveryWake) =>
      what === 'worker' ? inProcess?.wake() : eventRelay?.wake();
    const writeGroup = (group: Submission[]) => messages.writeGroup(group);
    const drain = () => {
      draining = true;
    };
    return { url, smtp, app, worker, database, telemetry, wake, writeGroup, drain, stop };
  } catch (error) {
    await atMost(stop(), FAILED_START_RELEASE_MS, logger);
    if (signal?.aborted) throw new StartAborted('stopped while starting');
    throw error;
  }
}

/**
 * The console's users and sessions; each change an admin makes is written with its audit event,
 * in the same transaction, by the store.
 */
export function consoleAccounts(database: DatabaseHandle): ConsoleAccounts {
  return new ConsoleAccounts(consoleUserStore(database));
}

/**
 * Logs what a start did to the key from TEGAMI_BOOTSTRAP_API_KEY (the audit log has it already,
 * as it has any key made or changed by hand). Taking back a revocation is a warning: whoever
 * revoked the key meant it gone, and only the variable still set brought it back.
 */
function logBootstrapKey(change: BootstrapKeyChange, logger: Logger): void {
  if (change.kind === 'unchanged') return;
  const { key } = change;
  if (change.kind === 'created') {
    logger.info({ keyId: key.id }, `created the admin key ${key.id} from TEGAMI_BOOTSTRAP_API_KEY`);
    return;
  }
  logger.warn(
    { keyId: key.id, revokedAt: new Date(change.revokedAt).toISOString() },
    `made the admin key ${key.id} from TEGAMI_BOOTSTRAP_API_KEY active again: it was revoked, but the variable still names it. To retire it, remove the variable (or change it), then revoke the key`,
  );
}

/**
 * SMTP submission in front of this process's API: each mail becomes a `POST /v1/messages`
 * injected into the app (no socket), so SMTP mail meets every rule API mail does.
 */
async function startSmtp(
  options: SmtpIngressOptions,
  app: FastifyInstance,
  keys: { findActiveByHash(hash: string): Promise<unknown> },
  logger: Logger,
): Promise<SmtpIngress> {
  let ingress: SmtpIngress;
  try {
    ingress = await startSmtpIngress(options, {
      isActiveKey: async (key) =>
        key !== '' && (await keys.findActiveByHash(hashApiKey(key))) !== null,
      submit: async (key, input, idempotencyKey) => {
        const answer = await app.inject({
          method: 'POST',
          url: '/v1/messages',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
          },
          payload: JSON.stringify(input),
        });
        let body: unknown = null;
        try {
          body = answer.json();
        } catch {
          // An answer without JSON: its status says enough.
        }
        return { status: answer.statusCode, body };
      },
      logger,
    });
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    throw new ListenError(
      `cannot listen for SMTP on ${options.host}:${options.port}: ${(error as Error).message}${code ? ` (${code})` : ''}; check TEGAMI_SMTP_HOST and TEGAMI_SMTP_PORT`,
    );
  }
  logger.info({ smtp: ingress.address }, 'SMTP submission listening');
  return ingress;
}

/** `app.listen`, with the reasons a port cannot be had said plainly. */
async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const why: Record<string, string> = {
      EADDRINUSE: 'the address is already in use (is another Tegami running?)',
      EACCES: 'permission denied (ports below 1024 need privileges)',
      EADDRNOTAVAIL: 'this machine has no such address',
      ENOTFOUND: 'no such host',
      EAI_AGAIN: 'the host name could not be resolved',
    };
    throw new ListenError(
      `cannot listen on ${where}: ${why[code] ?? (error as Error).message}${code && why[code] ? ` (${code})` : ''}; check TEGAMI_HTTP_HOST and TEGAMI_HTTP_PORT`,
    );
  }
}

/**
 * `POST /webhooks/sendgrid` runs only with a public key to check signatures, or when insecure
 * mode is asked for by name: an unsigned endpoint would let anyone rewrite delivery history.
 */
function eventWebhooks(
  config: Config,
  events: DeliveryEventStore,
  logger: Logger,
): EventWebhookOptions[] {
  const { publicKey, insecure, maxAgeMs } = config.sendgridWebhook;
  if (!publicKey && !insecure) {
    logger.info(
      'POST /webhooks/sendgrid is off: set TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY to receive delivery events',
    );
    return [];
  }
  if (!publicKey) {
    logger.warn(
      'POST /webhooks/sendgrid accepts UNSIGNED events (TEGAMI_SENDGRID_WEBHOOK_INSECURE)',
    );
  }
  const source = sendgridEventSource({
    publicKey: publicKey ? loadPublicKey(publicKey) : null,
    maxAgeMs,
  });
  return [{ source, events, clock: Date.now }];
}
