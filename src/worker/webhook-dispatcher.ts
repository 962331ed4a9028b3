import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { isPrivateAddress, signWebhook, webhookRetryDelay } from '../domain/webhooks.ts';
import type { DueWebhookDelivery, SqlWebhookStore } from '../store/sql-webhook-store.ts';

const MAX_RETRY_DELAY_MS = 3600_000;
const LEASE_MS = 30_000;
const TIMEOUT_MS = 10_000;
const BATCH = 50;
const ERROR_LIMIT = 500;

export class DestinationRefused extends Error {
  readonly code = 'EDESTINATIONREFUSED';
  constructor() {
    super(DESTINATION_NOT_ALLOWED);
  }
}

/**
 * What a refused destination is called, at registration and in the delivery log. It never says
 * what the host resolved to, nor whether it resolved at all: an API key must not be able to map
 * internal names and addresses through the answers.
 */
export const DESTINATION_NOT_ALLOWED =
  'destination not allowed: its host must resolve to public addresses only';

const REFUSED_AT_REGISTRATION =
  'is not an allowed destination: its host must resolve to public addresses only (others need TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true)';

/**
 * Checks where a webhook URL leads, at registration: every address its host resolves to must be
 * public, unless private destinations are allowed. Returns why it is refused (for the API's
 * answer), or null.
 */
export async function checkDestination(url: string, allowPrivate: boolean): Promise<string | null> {
  if (allowPrivate) return null;
  // The WHATWG parser has already turned decimal, octal, hex and short IPv4 forms
  // (2130706433, 0177.1, 0x7f.1, 127.1) into dotted quads, and compressed IPv6.
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host)) return isPrivateAddress(host) ? REFUSED_AT_REGISTRATION : null;
  try {
    const addresses = await lookup(host, { all: true });
    return addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))
      ? REFUSED_AT_REGISTRATION
      : null;
  } catch {
    // A name that does not resolve is refused with the same words, so answers cannot tell
    // which internal names exist.
    return REFUSED_AT_REGISTRATION;
  }
}

/**
 * The DNS look-up the connection itself uses, checked the same way: the address connected to is
 * the address checked, so a name that changes between the check and the connect (DNS
 * rebinding) is still refused.
 */
function guardedLookup(
  hostname: string,
  options: LookupOptions,
  callback: (
    err: NodeJS.ErrnoException | null,
    address: string | LookupAddress[],
    family?: number,
  ) => void,
): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    // Not found is reported as refused too: otherwise the log would tell internal names that
    // exist (and resolve to private addresses) from those that do not.
    if (err) return callback(new DestinationRefused(), []);
    if (addresses.some((a) => isPrivateAddress(a.address)))
      return callback(new DestinationRefused(), []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}

export interface WebhookDispatcherOptions {
  store: SqlWebhookStore;
  allowPrivate: boolean;
  retryBaseMs: number;
  /** Deliveries are retried this long after the event (or a redelivery), then marked `failed`. */
  retryWindowMs: number;
  pollIntervalMs: number;
  logger: Logger;
  clock?: () => number;
}

/**
 * Posts queued status webhooks to applications' endpoints: claims due deliveries with a lease,
 * signs and posts each, and records the answer. 2xx is delivered; anything else is retried with
 * backoff for `retryWindowMs` (24 hours by default) after the event.
 */
export class WebhookDispatcher {
  private readonly agent: Agent;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly clock: () => number;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.clock = options.clock ?? Date.now;
    this.agent = new Agent({
      connect: options.allowPrivate
        ? { timeout: TIMEOUT_MS }
        : { timeout: TIMEOUT_MS, lookup: guardedLookup },
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.runOnce()
        .then(() => {})
        .catch((err: unknown) => this.options.logger.error({ err }, 'webhook dispatch failed'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.timer = setTimeout(tick, this.options.pollIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.options.pollIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.agent.close();
  }

  /** One round: claim what is due and post it all. Returns how many were attempted. */
  async runOnce(): Promise<number> {
    const due = await this.options.store.claimDue(BATCH, LEASE_MS, this.clock());
    await Promise.all(due.map((d) => this.deliver(d)));
    return due.length;
  }

  private async deliver(delivery: DueWebhookDelivery): Promise<void> {
    const { store } = this.options;
    if (!delivery.url || !delivery.secret) {
      await store.recordAttempt(delivery.id, {
        status: 'failed',
        httpStatus: null,
        error: 'endpoint deleted',
        nextAttemptAt: null,
        now: this.clock(),
      });
      return;
    }
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      const refused = await checkDestination(delivery.url, this.options.allowPrivate);
      if (refused) throw new DestinationRefused();
      const timestamp = Math.floor(this.clock() / 1000);
      const response = await request(delivery.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tegami-Webhooks/1',
          'tegami-webhook-id': delivery.id,
          'tegami-webhook-timestamp': String(timestamp),
          'tegami-webhook-signature': signWebhook(delivery.secret, timestamp, delivery.payload),
        },
        body: delivery.payload,
      });
      httpStatus = response.statusCode;
      const text = await response.body.text().catch(() => '');
      if (httpStatus < 200 || httpStatus > 299)
        error = `HTTP ${httpStatus}${text ? `: ${text.slice(0, 200)}` : ''}`;
    } catch (err) {
      error = describeFailure(err);
    }
    const now = this.clock();
    if (error === null) {
      await store.recordAttempt(delivery.id, {
        status: 'delivered',
        httpStatus,
        error: null,
        nextAttemptAt: null,
        now,
      });
      return;
    }
    const attempts = delivery.attempts + 1;
    const next = now + webhookRetryDelay(attempts, this.options.retryBaseMs, MAX_RETRY_DELAY_MS);
    const giveUp = next > delivery.retryFrom + this.options.retryWindowMs;
    await store.recordAttempt(delivery.id, {
      status: giveUp ? 'failed' : 'pending',
      httpStatus,
      error: error.slice(0, ERROR_LIMIT),
      nextAttemptAt: giveUp ? null : next,
      now,
    });
  }
}

/** Fixed words per error code: never an error's own message, which can name addresses. */
const FAILURES: Record<string, string> = {
  EDESTINATIONREFUSED: DESTINATION_NOT_ALLOWED,
  ENOTFOUND: 'ENOTFOUND: host not found',
  EAI_AGAIN: 'EAI_AGAIN: DNS look-up failed, try again',
  ECONNREFUSED: 'ECONNREFUSED: connection refused',
  ECONNRESET: 'ECONNRESET: connection reset',
  EHOSTUNREACH: 'EHOSTUNREACH: host unreachable',
  ENETUNREACH: 'ENETUNREACH: network unreachable',
  ETIMEDOUT: 'ETIMEDOUT: connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'UND_ERR_CONNECT_TIMEOUT: connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'UND_ERR_HEADERS_TIMEOUT: no answer in time',
  UND_ERR_BODY_TIMEOUT: 'UND_ERR_BODY_TIMEOUT: the answer stalled',
  UND_ERR_SOCKET: 'UND_ERR_SOCKET: the connection closed before a complete answer',
};

/** How an attempt that got no HTTP answer is recorded in the delivery log. */
export function describeFailure(err: unknown): string {
  // A refusal may arrive wrapped, as the cause of another error.
  let inner: unknown = err;
  for (let depth = 0; inner && depth < 5; depth++) {
    if (inner instanceof DestinationRefused) return DESTINATION_NOT_ALLOWED;
    inner = (inner as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !/^[A-Z0-9_]{1,40}$/.test(code)) return 'request failed';
  return FAILURES[code] ?? `${code}: request failed`;
}
