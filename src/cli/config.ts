import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  DEFAULT_ALERT_FOR_MS,
  DEFAULT_ALERT_INTERVAL_MS,
  DEFAULT_ALERT_REPEAT_MS,
  DEFAULT_ALERT_THRESHOLDS,
} from '../domain/alerts/rules.ts';
import { slackUrlProblem, urlWithoutPath } from '../domain/alerts/service.ts';
import { DEFAULT_BATCH_MAX_RECIPIENTS, DEFAULT_EVENT_MATCH_WINDOW_S } from '../domain/defaults.ts';
import { type CircuitOptions, DEFAULT_CIRCUIT_OPTIONS } from '../domain/provider-circuit.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../domain/retry-policy.ts';
import type { AlertingOptions } from '../ops/alerts/evaluator.ts';
import { loadPublicKey, PrivateKeyGiven } from '../providers/sendgrid/event-source.ts';
import type { SendGridOptions } from '../providers/sendgrid/sendgrid-provider.ts';
import type { SmtpIngressOptions } from '../smtp/server.ts';
import { isPostgresUrl, parsePostgresUrl } from '../store/engine/postgres.ts';

/**
 * Configuration comes from environment variables (docs/configuration.md lists them all). Every
 * value is checked at start: a bad one stops Tegami with a message naming the variable.
 */
export interface Config {
  databaseUrl: string;
  /** PostgreSQL connections per process. */
  databasePoolSize: number;
  /**
   * TEGAMI_SQLITE_FSYNC: where a SQLite write transaction's fsync runs. `auto`: on the thread
   * that writes both the submissions and the delivery results (`tegami serve`), elsewhere on
   * the thread pool; `inline`: always on the writing thread; `thread`: always on the pool. Either
   * way nobody hears back before the commit is on disk (see sqliteFsyncFor).
   */
  sqliteFsync: 'auto' | 'inline' | 'thread';
  /**
   * TEGAMI_POSTGRES_PREPARE: PostgreSQL parses and plans the writes each connection repeats once
   * (`on`, the default), or every time (`off`: behind PgBouncer in transaction mode without
   * `max_prepared_statements`).
   */
  postgresPrepare: boolean;
  /** Finished messages (with their attempts) older than this are deleted. */
  retentionDays: number;
  /** A sent message with no delivery event after this long is "unconfirmed". */
  unconfirmedAfterMs: number;
  /** After a send timed out (outcome unknown), wait this long for a delivery event proving it. */
  unknownOutcomeWaitMs: number;
  /** A delivery event that matched no message is looked at again for this long, then given up. */
  eventMatchWindowMs: number;
  /** Never tried and due longer than this: shown as unsent (`waiting`). */
  unsentAfterMs: number;
  /** Audit events older than this are deleted (apart from message retention). */
  auditRetentionDays: number;
  http: { host: string; port: number };
  /**
   * TEGAMI_SHUTDOWN_DRAIN_S: after SIGTERM, how long an API process keeps serving with
   * `/readyz` answering 503 before it closes its port, so a load balancer stops sending to it
   * first. 0 (the default): the port closes at once.
   */
  shutdownDrainMs: number;
  /** SMTP submission (TEGAMI_SMTP_PORT), in processes that run the API; null: off. */
  smtp: SmtpIngressOptions | null;
  provider: 'sandbox' | 'test' | 'sendgrid';
  /** Set when `provider` is `sendgrid`. */
  sendgrid: SendGridOptions | null;
  /** SendGrid's Event Webhook endpoint. */
  sendgridWebhook: { publicKey: string | null; insecure: boolean; maxAgeMs: number };
  /** Blocks (bounces of type `blocked`) put the address on the suppression list too. */
  suppressBlocks: boolean;
  /** Status webhooks to applications. */
  webhooks: {
    /** Private and loopback destinations are allowed (otherwise refused: no SSRF). */
    allowPrivate: boolean;
    /** First retry delay; it doubles per attempt, capped at one hour. */
    retryBaseMs: number;
    /** How long a delivery is retried before it is marked failed. */
    retryWindowMs: number;
    pollIntervalMs: number;
    /** Each attempt's whole deadline: connect, answer and (a few KB of) body. */
    timeoutMs: number;
    /** Attempts in flight per worker process, and per endpoint within that. */
    concurrency: number;
    maxPerEndpoint: number;
  };
  circuit: CircuitOptions;
  bootstrapApiKey: string | null;
  /** The console's first admin (TEGAMI_ADMIN_EMAIL, TEGAMI_ADMIN_PASSWORD), created once. */
  consoleAdmin: { email: string; password: string } | null;
  /** Console cookies carry `Secure` (TEGAMI_CONSOLE_SECURE_COOKIES, default true). */
  consoleSecureCookies: boolean;
  /** Proxies whose X-Forwarded-For is believed (TEGAMI_TRUSTED_PROXIES); empty: none. */
  trustedProxies: string[];
  retry: RetryPolicy;
  worker: {
    concurrency: number;
    batchSize: number;
    leaseMs: number;
    pollIntervalMs: number;
    /** TEGAMI_WORKER_HAND_OFF: accepted mail goes to the worker of its thread at once. */
    handOff: boolean;
    /** TEGAMI_RESULT_COMMIT: whether results wait for the disk (`sync`) or not (`async`). */
    resultCommit: 'async' | 'sync';
  };
  sandboxOutboxLimit: number;
  /** Recipients (to + cc + bcc) of all messages of one batch together. */
  batchMaxRecipients: number;
  /** TEGAMI_UNIT_RATE_LIMIT_PER_MIN: a unit's sending limit unless it has its own; null: none. */
  unitRateLimitPerMin: number | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * TEGAMI_SERVE_THREADS: `tegami serve` on two threads (2) or one (1): the second thread
   * delivers (serve-threads.ts), and on SQLite also writes the API's submissions, so every
   * message's writes share its connection. Default 1 on both engines: one thread handing mail to
   * its own worker, with SendGrid's calls on a thread of their own (TEGAMI_PROVIDER_THREAD), did
   * more on a 2-core machine with less CPU and memory (docs/benchmarks.md).
   */
  serveOnTwoThreads: boolean;
  /**
   * TEGAMI_PROVIDER_THREAD: SendGrid's calls on a thread of their own (providers/provider-thread.ts).
   * `auto`: in `tegami serve` on one thread, whose event loop also runs the API and SQLite's
   * writes; `on`: also in `tegami worker`; `off`: never. The sandbox always runs inline.
   */
  providerThread: 'auto' | 'on' | 'off';
  metrics: {
    /** TEGAMI_METRICS_TOKEN: `/metrics` asks for it as a bearer token. */
    token: string | null;
    /** TEGAMI_METRICS_PORT: `/metrics` on its own port (any process), not on the API's. */
    port: number | null;
    /** How long the cluster-wide gauges reuse a database reading. */
    cacheMs: number;
  };
  alerts: AlertingOptions;
}

export const DEFAULT_HTTP_PORT = 4025;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(name, `"${raw}" is not a whole number`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(name, `${value} is out of range (${min} to ${max})`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = text(env, name, fallback);
  if (!allowed.includes(value as T)) {
    throw new ConfigError(name, `"${value}" is not one of: ${allowed.join(', ')}`);
  }
  return value as T;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DAY_MS = 24 * 3600_000;

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = text(env, 'TEGAMI_DATABASE_URL', 'sqlite:./data/tegami.db');
  if (isPostgresUrl(databaseUrl)) {
    try {
      parsePostgresUrl(databaseUrl);
    } catch (error) {
      throw new ConfigError('TEGAMI_DATABASE_URL', (error as Error).message);
    }
  } else if (!databaseUrl.startsWith('sqlite:')) {
    // Only the scheme is shown of a URL with one: the rest may hold a password.
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(databaseUrl)?.[0];
    throw new ConfigError(
      'TEGAMI_DATABASE_URL',
      scheme
        ? `"${scheme}" is not supported; use sqlite:<path> (e.g. sqlite:./data/tegami.db) or postgres://user:password@host:5432/db`
        : `"${databaseUrl}" has no scheme: for a SQLite file write sqlite:${databaseUrl}; for PostgreSQL, postgres://user:password@host:5432/db`,
    );
  }

  const bootstrap = env.TEGAMI_BOOTSTRAP_API_KEY;
  if (bootstrap !== undefined && bootstrap !== '' && !/^[\x21-\x7e]+$/.test(bootstrap)) {
    throw new ConfigError(
      'TEGAMI_BOOTSTRAP_API_KEY',
      'must be printable ASCII without spaces (it is sent in an HTTP header)',
    );
  }

  const adminEmail = env.TEGAMI_ADMIN_EMAIL ?? '';
  const adminPassword = env.TEGAMI_ADMIN_PASSWORD ?? '';
  if ((adminEmail === '') !== (adminPassword === '')) {
    throw new ConfigError(
      adminEmail === '' ? 'TEGAMI_ADMIN_EMAIL' : 'TEGAMI_ADMIN_PASSWORD',
      'set both TEGAMI_ADMIN_EMAIL and TEGAMI_ADMIN_PASSWORD, or neither',
    );
  }
  if (adminPassword !== '' && adminPassword.length < 12) {
    throw new ConfigError('TEGAMI_ADMIN_PASSWORD', 'must be at least 12 characters');
  }

  const retry: RetryPolicy = {
    maxAttempts: integer(
      env,
      'TEGAMI_RETRY_MAX_ATTEMPTS',
      DEFAULT_RETRY_POLICY.maxAttempts,
      1,
      1000,
    ),
    baseDelayMs: integer(
      env,
      'TEGAMI_RETRY_BASE_DELAY_MS',
      DEFAULT_RETRY_POLICY.baseDelayMs,
      0,
      DAY_MS,
    ),
    maxDelayMs: integer(
      env,
      'TEGAMI_RETRY_MAX_DELAY_MS',
      DEFAULT_RETRY_POLICY.maxDelayMs,
      0,
      7 * DAY_MS,
    ),
  };
  if (retry.maxDelayMs < retry.baseDelayMs) {
    throw new ConfigError(
      'TEGAMI_RETRY_MAX_DELAY_MS',
      `must not be below TEGAMI_RETRY_BASE_DELAY_MS (${retry.baseDelayMs})`,
    );
  }

  const worker = {
    // A message holds its place from its claim (or hand-over) until its result is committed: at
    // 64, `tegami serve` on SQLite ran out of places to hand mail over and queued a third of it;
    // at 128, a PostgreSQL worker fell behind its API by ~10% under a sustained load (60,000
    // messages), its mail waiting seconds; at 256 it kept up. SQLite gained nothing from 256, and
    // a larger number is more mail that may go out twice after a crash (docs/benchmarks.md).
    concurrency: integer(
      env,
      'TEGAMI_WORKER_CONCURRENCY',
      isPostgresUrl(databaseUrl) ? 256 : 128,
      1,
      10_000,
    ),
    batchSize: integer(env, 'TEGAMI_WORKER_BATCH_SIZE', 200, 1, 5_000),
    leaseMs: integer(env, 'TEGAMI_WORKER_LEASE_MS', 30_000, 1_000, DAY_MS),
    pollIntervalMs: integer(env, 'TEGAMI_WORKER_POLL_INTERVAL_MS', 250, 10, 60_000),
    // Where accepted mail is written on a worker's thread (`tegami serve`), it goes to that
    // worker at once while nothing is queued, written already leased (domain/hand-over.ts).
    handOff: oneOf(env, 'TEGAMI_WORKER_HAND_OFF', 'true', ['true', 'false'] as const) === 'true',
    // `async`: a group of results is committed without waiting for its own fsync (SQLite) or WAL
    // flush (PostgreSQL); the next one covers it, within 100 ms (SQLite) or three times
    // wal_writer_delay. A crash of the machine in between can only make those messages go out
    // again, as a crash between the provider's answer and the commit can. On SQLite that halves
    // the fsyncs and `tegami serve` delivered ~1.05x the mail; on PostgreSQL it gained nothing
    // (docs/benchmarks.md), and there a crash of the server alone would undo such commits too.
    resultCommit: oneOf(
      env,
      'TEGAMI_RESULT_COMMIT',
      isPostgresUrl(databaseUrl) ? 'sync' : 'async',
      ['async', 'sync'] as const,
    ),
  };
  const provider = oneOf(env, 'TEGAMI_PROVIDER', 'sandbox', [
    'sandbox',
    'test',
    'sendgrid',
  ] as const);
  const sendgrid = provider === 'sendgrid' ? loadSendGrid(env, worker.leaseMs) : null;

  const host = text(env, 'TEGAMI_HTTP_HOST', '127.0.0.1');
  if (/\s/.test(host))
    throw new ConfigError('TEGAMI_HTTP_HOST', `"${host}" is not a host name or address`);

  return {
    databaseUrl,
    databasePoolSize: integer(env, 'TEGAMI_DATABASE_POOL_SIZE', 10, 1, 1_000),
    sqliteFsync: oneOf(env, 'TEGAMI_SQLITE_FSYNC', 'auto', ['auto', 'inline', 'thread'] as const),
    postgresPrepare: oneOf(env, 'TEGAMI_POSTGRES_PREPARE', 'on', ['on', 'off'] as const) === 'on',
    retentionDays: integer(env, 'TEGAMI_RETENTION_DAYS', 90, 1, 36_500),
    unconfirmedAfterMs: integer(env, 'TEGAMI_UNCONFIRMED_AFTER_S', 1800, 1, 7 * 24 * 3600) * 1000,
    unknownOutcomeWaitMs: integer(env, 'TEGAMI_UNKNOWN_OUTCOME_WAIT_S', 120, 0, 24 * 3600) * 1000,
    eventMatchWindowMs:
      integer(env, 'TEGAMI_EVENT_MATCH_WINDOW_S', DEFAULT_EVENT_MATCH_WINDOW_S, 60, 30 * 86_400) *
      1000,
    unsentAfterMs: integer(env, 'TEGAMI_UNSENT_AFTER_S', 60, 1, 7 * 24 * 3600) * 1000,
    auditRetentionDays: integer(env, 'TEGAMI_AUDIT_RETENTION_DAYS', 400, 1, 36_500),
    http: { host, port: integer(env, 'TEGAMI_HTTP_PORT', DEFAULT_HTTP_PORT, 0, 65535) },
    shutdownDrainMs: integer(env, 'TEGAMI_SHUTDOWN_DRAIN_S', 0, 0, 600) * 1000,
    smtp: loadSmtp(env, host),
    provider,
    sendgrid,
    sendgridWebhook: loadSendGridWebhook(env),
    suppressBlocks:
      oneOf(env, 'TEGAMI_SUPPRESS_BLOCKS', 'false', ['true', 'false'] as const) === 'true',
    webhooks: {
      allowPrivate:
        oneOf(env, 'TEGAMI_WEBHOOKS_ALLOW_PRIVATE', 'false', ['true', 'false'] as const) === 'true',
      retryBaseMs: integer(env, 'TEGAMI_WEBHOOKS_RETRY_BASE_MS', 10_000, 1, 3_600_000),
      retryWindowMs: integer(env, 'TEGAMI_WEBHOOKS_RETRY_WINDOW_S', 86_400, 1, 7 * 86_400) * 1000,
      pollIntervalMs: integer(env, 'TEGAMI_WEBHOOKS_POLL_INTERVAL_MS', 500, 10, 60_000),
      timeoutMs: integer(env, 'TEGAMI_WEBHOOKS_TIMEOUT_MS', 10_000, 100, 60_000),
      concurrency: integer(env, 'TEGAMI_WEBHOOKS_CONCURRENCY', 64, 1, 1_000),
      maxPerEndpoint: integer(env, 'TEGAMI_WEBHOOKS_MAX_PER_ENDPOINT', 4, 1, 1_000),
    },
    circuit: {
      failureThreshold: integer(
        env,
        'TEGAMI_PROVIDER_FAILURE_THRESHOLD',
        DEFAULT_CIRCUIT_OPTIONS.failureThreshold,
        1,
        10_000,
      ),
      probeIntervalMs: integer(
        env,
        'TEGAMI_PROVIDER_PROBE_INTERVAL_MS',
        DEFAULT_CIRCUIT_OPTIONS.probeIntervalMs,
        100,
        DAY_MS,
      ),
      pauseCheckMs: integer(
        env,
        'TEGAMI_PROVIDER_PAUSE_CHECK_MS',
        DEFAULT_CIRCUIT_OPTIONS.pauseCheckMs,
        100,
        DAY_MS,
      ),
      defaultThrottleMs: DEFAULT_CIRCUIT_OPTIONS.defaultThrottleMs,
    },
    bootstrapApiKey: bootstrap === undefined || bootstrap === '' ? null : bootstrap,
    consoleAdmin: adminEmail === '' ? null : { email: adminEmail, password: adminPassword },
    consoleSecureCookies:
      oneOf(env, 'TEGAMI_CONSOLE_SECURE_COOKIES', 'true', ['true', 'false'] as const) === 'true',
    trustedProxies: trustedProxies(env),
    retry,
    worker,
    sandboxOutboxLimit: integer(env, 'TEGAMI_SANDBOX_OUTBOX_LIMIT', 10_000, 1, 10_000_000),
    batchMaxRecipients: integer(
      env,
      'TEGAMI_BATCH_MAX_RECIPIENTS',
      DEFAULT_BATCH_MAX_RECIPIENTS,
      1,
      1_000_000,
    ),
    // Unset (0 here): units without their own limit are unlimited.
    unitRateLimitPerMin: integer(env, 'TEGAMI_UNIT_RATE_LIMIT_PER_MIN', 0, 1, 10_000_000) || null,
    logLevel: oneOf(env, 'TEGAMI_LOG_LEVEL', 'info', LOG_LEVELS),
    serveOnTwoThreads: oneOf(env, 'TEGAMI_SERVE_THREADS', '1', ['1', '2'] as const) === '2',
    providerThread: oneOf(env, 'TEGAMI_PROVIDER_THREAD', 'auto', ['auto', 'on', 'off'] as const),
    metrics: loadMetrics(env),
    alerts: loadAlerts(env),
  };
}

/**
 * TEGAMI_TRUSTED_PROXIES: IP addresses and CIDR ranges, comma-separated (`10.0.0.0/8,::1`).
 * Checked here because Fastify would take a malformed entry as a host name and trust nothing.
 */
function trustedProxies(env: Env): string[] {
  const entries = (env.TEGAMI_TRUSTED_PROXIES ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(
        'TEGAMI_TRUSTED_PROXIES',
        `${JSON.stringify(entry)} is not an IP address or a CIDR range (like 10.0.0.0/8 or ::1); separate several with commas`,
      );
    }
  }
  return entries;
}

function loadMetrics(env: Env): Config['metrics'] {
  const token = text(env, 'TEGAMI_METRICS_TOKEN', '');
  if (token && !/^[\x21-\x7e]+$/.test(token)) {
    throw new ConfigError(
      'TEGAMI_METRICS_TOKEN',
      'must be printable ASCII without spaces (it is sent in an HTTP header)',
    );
  }
  const port = integer(env, 'TEGAMI_METRICS_PORT', -1, 0, 65535);
  return {
    token: token || null,
    port: port < 0 ? null : port,
    cacheMs: integer(env, 'TEGAMI_METRICS_CACHE_S', 10, 0, 3600) * 1000,
  };
}

/** The configured credentials, kept out of every log line (ops/logger.ts). */
export function configuredSecrets(config: Config): (string | null)[] {
  const databasePassword: string[] = [];
  try {
    const written = new URL(config.databaseUrl).password;
    // As written in the URL, and as PostgreSQL gets it.
    if (written) databasePassword.push(written, decodeURIComponent(written));
  } catch {
    // A SQLite path is no URL with a password.
  }
  return [
    config.sendgrid?.apiKey ?? null,
    config.bootstrapApiKey,
    config.consoleAdmin?.password ?? null,
    config.metrics.token,
    config.alerts.slackWebhookUrl,
    config.alerts.webhookUrl,
    config.alerts.webhookSecret,
    config.alerts.heartbeatUrl,
    ...databasePassword,
  ];
}

/**
 * An http(s) URL from the environment, or null when unset. These URLs hold secrets (a Slack
 * webhook's path, a heartbeat's id), so an error shows the scheme and host only.
 */
function url(env: Env, name: string): string | null {
  const value = text(env, name, '');
  if (!value) return null;
  const problem = slackUrlProblem(value);
  if (problem) {
    throw new ConfigError(name, `${urlWithoutPath(value) ?? 'the value'} ${problem}`);
  }
  return value;
}

function loadAlerts(env: Env): AlertingOptions {
  const d = DEFAULT_ALERT_THRESHOLDS;
  const seconds = (name: string, fallbackMs: number, min = 1) =>
    integer(env, name, fallbackMs / 1000, min, 30 * 86_400) * 1000;
  const webhookUrl = url(env, 'TEGAMI_ALERT_WEBHOOK_URL');
  const webhookSecret = text(env, 'TEGAMI_ALERT_WEBHOOK_SECRET', '') || null;
  if (webhookUrl && !webhookSecret) {
    throw new ConfigError(
      'TEGAMI_ALERT_WEBHOOK_SECRET',
      'must be set with TEGAMI_ALERT_WEBHOOK_URL: alert webhooks are always signed',
    );
  }
  return {
    thresholds: {
      delayMs: seconds('TEGAMI_ALERT_DELAY_S', d.delayMs),
      throttledMs: seconds('TEGAMI_ALERT_THROTTLED_S', d.throttledMs),
      errorRate: integer(env, 'TEGAMI_ALERT_ERROR_RATE_PERCENT', d.errorRate * 100, 0, 100) / 100,
      errorRateMinAttempts: integer(
        env,
        'TEGAMI_ALERT_ERROR_RATE_MIN_ATTEMPTS',
        d.errorRateMinAttempts,
        1,
        1_000_000,
      ),
      windowMs: seconds('TEGAMI_ALERT_WINDOW_S', d.windowMs),
      deadLetters: integer(env, 'TEGAMI_ALERT_DEAD_LETTERS', d.deadLetters, 0, 1_000_000_000),
      silentWebhookMs: seconds('TEGAMI_ALERT_SILENT_WEBHOOK_S', d.silentWebhookMs),
      unconfirmed: integer(env, 'TEGAMI_ALERT_UNCONFIRMED', d.unconfirmed, 0, 1_000_000_000),
    },
    forMs: seconds('TEGAMI_ALERT_FOR_S', DEFAULT_ALERT_FOR_MS, 0),
    repeatMs: seconds('TEGAMI_ALERT_REPEAT_S', DEFAULT_ALERT_REPEAT_MS),
    intervalMs: integer(env, 'TEGAMI_ALERT_INTERVAL_MS', DEFAULT_ALERT_INTERVAL_MS, 100, 3_600_000),
    retentionMs: integer(env, 'TEGAMI_ALERT_RETENTION_DAYS', 90, 1, 36_500) * DAY_MS,
    publicUrl: url(env, 'TEGAMI_PUBLIC_URL'),
    slackWebhookUrl: url(env, 'TEGAMI_SLACK_WEBHOOK_URL'),
    webhookUrl,
    webhookSecret,
    heartbeatUrl: url(env, 'TEGAMI_HEARTBEAT_URL'),
  };
}

function loadSendGrid(env: Env, leaseMs: number): SendGridOptions {
  const apiKey = env.TEGAMI_SENDGRID_API_KEY ?? '';
  if (apiKey === '') {
    throw new ConfigError('TEGAMI_SENDGRID_API_KEY', 'is required when TEGAMI_PROVIDER=sendgrid');
  }
  if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new ConfigError(
      'TEGAMI_SENDGRID_API_KEY',
      'must be printable ASCII without spaces (it is sent in an HTTP header)',
    );
  }
  const baseUrl = text(env, 'TEGAMI_SENDGRID_BASE_URL', 'https://api.sendgrid.com');
  let parsed: URL | null = null;
  try {
    parsed = new URL(baseUrl);
  } catch {
    // reported below
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.search || parsed.hash) {
    throw new ConfigError(
      'TEGAMI_SENDGRID_BASE_URL',
      `"${baseUrl}" is not an http(s) URL such as https://api.sendgrid.com`,
    );
  }
  // Tegami adds /v3/… itself: with it in the base URL every call went to /v3/v3/… and SendGrid
  // answered 404, which read as a problem with the key.
  // The whole endpoint pasted (…/v3/mail/send) is the same mistake.
  const withoutV3 = /^(.*?)\/v3(?:\/.*)?$/i.exec(parsed.pathname);
  if (withoutV3) {
    const suggested = `${parsed.origin}${withoutV3[1]}`;
    throw new ConfigError(
      'TEGAMI_SENDGRID_BASE_URL',
      `"${baseUrl}" must not include /v3 (Tegami adds /v3/mail/send and /v3/scopes itself): use ${suggested}`,
    );
  }
  const options: SendGridOptions = {
    apiKey,
    baseUrl,
    connectTimeoutMs: integer(env, 'TEGAMI_SENDGRID_CONNECT_TIMEOUT_MS', 5_000, 100, 120_000),
    timeoutMs: integer(env, 'TEGAMI_SENDGRID_TIMEOUT_MS', 10_000, 100, 600_000),
    maxConcurrency: integer(env, 'TEGAMI_SENDGRID_MAX_CONCURRENCY', 64, 1, 10_000),
    maxRequestsPerSecond: integer(env, 'TEGAMI_SENDGRID_MAX_RPS', 0, 0, 1_000_000),
  };
  // A send that outlives its lease could be claimed and sent again by another worker.
  if (options.connectTimeoutMs + options.timeoutMs >= leaseMs) {
    throw new ConfigError(
      'TEGAMI_SENDGRID_TIMEOUT_MS',
      `with TEGAMI_SENDGRID_CONNECT_TIMEOUT_MS it must stay below TEGAMI_WORKER_LEASE_MS (${leaseMs})`,
    );
  }
  return options;
}

/** A PEM file named by `name`, read now so that a wrong path stops the start, naming it. */
function pemFile(env: Env, name: string): Buffer | null {
  const path = text(env, name, '');
  if (!path) return null;
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new ConfigError(name, `cannot read ${path}: ${(error as Error).message}`);
  }
  if (!pem.toString('latin1').includes('-----BEGIN ')) {
    throw new ConfigError(name, `${path} is not a PEM file`);
  }
  return pem;
}

function loadSmtp(env: Env, httpHost: string): SmtpIngressOptions | null {
  const port = integer(env, 'TEGAMI_SMTP_PORT', -1, 0, 65535);
  const host = text(env, 'TEGAMI_SMTP_HOST', httpHost);
  if (/\s/.test(host))
    throw new ConfigError('TEGAMI_SMTP_HOST', `"${host}" is not a host name or address`);
  const cert = pemFile(env, 'TEGAMI_SMTP_TLS_CERT_FILE');
  const key = pemFile(env, 'TEGAMI_SMTP_TLS_KEY_FILE');
  if ((cert === null) !== (key === null)) {
    throw new ConfigError(
      cert ? 'TEGAMI_SMTP_TLS_KEY_FILE' : 'TEGAMI_SMTP_TLS_CERT_FILE',
      'TLS needs both TEGAMI_SMTP_TLS_CERT_FILE and TEGAMI_SMTP_TLS_KEY_FILE',
    );
  }
  const implicitTls = oneOf(env, 'TEGAMI_SMTP_TLS_IMPLICIT', 'false', ['true', 'false'] as const);
  if (implicitTls === 'true' && !cert) {
    throw new ConfigError(
      'TEGAMI_SMTP_TLS_IMPLICIT',
      'needs TEGAMI_SMTP_TLS_CERT_FILE and TEGAMI_SMTP_TLS_KEY_FILE',
    );
  }
  const options: SmtpIngressOptions = {
    host,
    port,
    tls: cert && key ? { cert, key } : null,
    implicitTls: implicitTls === 'true',
    allowInsecureAuth:
      oneOf(env, 'TEGAMI_SMTP_ALLOW_INSECURE_AUTH', 'false', ['true', 'false'] as const) === 'true',
    maxClients: integer(env, 'TEGAMI_SMTP_MAX_CLIENTS', 100, 1, 10_000),
    maxClientsPerAddress: integer(env, 'TEGAMI_SMTP_MAX_CLIENTS_PER_ADDRESS', 20, 1, 10_000),
    // A client authenticates right after EHLO (STARTTLS first, over TLS): 20 s is plenty, and
    // short enough that connections that never do cannot pile up.
    authTimeoutMs: integer(env, 'TEGAMI_SMTP_AUTH_TIMEOUT_S', 20, 1, 300) * 1000,
    // 5 minutes, the server timeout RFC 5321 suggests: a 10 MiB mail fits in it at 280 kbit/s.
    dataTimeoutMs: integer(env, 'TEGAMI_SMTP_DATA_TIMEOUT_S', 300, 1, 3600) * 1000,
  };
  return port === -1 ? null : options;
}

function loadSendGridWebhook(env: Env): Config['sendgridWebhook'] {
  const publicKey = text(env, 'TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY', '') || null;
  if (publicKey) {
    try {
      loadPublicKey(publicKey);
    } catch (error) {
      if (error instanceof PrivateKeyGiven) {
        throw new ConfigError(
          'TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY',
          'this is a private key; give its public key instead (openssl pkey -in private.pem -pubout prints it), or the base64 key SendGrid shows for the Signed Event Webhook',
        );
      }
      throw new ConfigError(
        'TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY',
        'is not a public key: paste the base64 key SendGrid shows for the Signed Event Webhook (or a PEM key)',
      );
    }
  }
  const insecure = oneOf(env, 'TEGAMI_SENDGRID_WEBHOOK_INSECURE', 'false', [
    'true',
    'false',
  ] as const);
  return {
    publicKey,
    insecure: insecure === 'true',
    maxAgeMs: integer(env, 'TEGAMI_SENDGRID_WEBHOOK_MAX_AGE_S', 600, 1, 7 * 24 * 3600) * 1000,
  };
}

/**
 * Where this thread's SQLite fsyncs run (TEGAMI_SQLITE_FSYNC), given whether it writes both the
 * API's submissions and a worker's results: with `auto`, on the thread where it does (one fsync
 * there let both kinds of group grow: `tegami serve` ~1.1x the mail for 15 % less CPU per
 * message), on the thread pool where it does not (`tegami api` alone: 0.9x).
 */
export function sqliteFsyncFor(
  config: Config,
  writesSubmissionsAndResults: boolean,
): 'inline' | 'thread' {
  if (config.sqliteFsync !== 'auto') return config.sqliteFsync;
  return writesSubmissionsAndResults ? 'inline' : 'thread';
}
