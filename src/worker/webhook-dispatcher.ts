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

export class DestinationRefused extends Error {}

/** The headers of a status webhook POST (HTTP reads them in any case; the docs use these). */
export const WEBHOOK_HEADERS = {
  id: 'Tegami-Webhook-Id',
  timestamp: 'Tegami-Webhook-Timestamp',
  signature: 'Tegami-Webhook-Signature',
} as const;

/**
 * Checks where a webhook URL leads: every address its host resolves to must be public, unless
 * private destinations are allowed. Returns the reason it is refused, or null.
 */
export async function checkDestination(url: string, allowPrivate: boolean): Promise<string | null> {
  if (allowPrivate) return null;
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch (error) {
      return `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
  }
  const refused = addresses.find(isPrivateAddress);
  return refused
    ? `${host} resolves to ${refused}, a private, loopback or link-local address; set TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true to allow such destinations`
    : null;
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
    if (err) return callback(err, []);
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused) {
      const error: NodeJS.ErrnoException = new DestinationRefused(
        `${hostname} resolves to ${refused.address}, a private or loopback address`,
      );
      error.code = 'EDESTINATIONREFUSED';
      return callback(error, []);
    }
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
      if (refused) throw new DestinationRefused(refused);
      const timestamp = Math.floor(this.clock() / 1000);
      const response = await request(delivery.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tegami-Webhooks/1',
          [WEBHOOK_HEADERS.id]: delivery.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(delivery.secret, timestamp, delivery.payload),
        },
        body: delivery.payload,
      });
      httpStatus = response.statusCode;
      const text = await response.body.text().catch(() => '');
      if (httpStatus < 200 || httpStatus > 299)
        error = `HTTP ${httpStatus}${text ? `: ${text.slice(0, 200)}` : ''}`;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      error = `${e.code ? `${e.code}: ` : ''}${e.message || String(err)}`;
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
