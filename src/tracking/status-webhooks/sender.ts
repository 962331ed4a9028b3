import type { Logger } from 'pino';
import { type Backoff, backoffDelayMs } from '../../domain/backoff.ts';
import type { OutageReporter } from '../../domain/ports/outage-reporter.ts';
import type {
  DueWebhookDelivery,
  StatusWebhookStore,
} from '../../domain/ports/status-webhook-store.ts';
import type { Telemetry } from '../../domain/ports/telemetry.ts';
import { statusWebhookBackoff, webhookSignatures } from '../../domain/status-webhooks.ts';
import { GuardedPoster } from '../guarded-post.ts';

/**
 * A claimed status webhook is leased for its attempt's deadline plus this margin for recording
 * the result; a sender that dies leaves it due again when the lease ends.
 */
const LEASE_MARGIN_MS = 20_000;
const ERROR_LIMIT = 500;

/** The headers of a status webhook POST (HTTP reads them in any case; the docs use these). */
export const WEBHOOK_HEADERS = {
  id: 'Tegami-Webhook-Id',
  timestamp: 'Tegami-Webhook-Timestamp',
  /** One `v1=` entry (domain/status-webhooks.ts `webhookSignatures`). */
  signature: 'Tegami-Webhook-Signature',
  /** One `v1=` entry per secret in force, comma-separated. */
  signatures: 'Tegami-Webhook-Signatures',
} as const;

interface StatusWebhookSenderOptions {
  store: StatusWebhookStore;
  allowPrivate: boolean;
  retryBaseMs: number;
  /** A status webhook is retried this long after the event (or a redelivery), then `failed`. */
  retryWindowMs: number;
  pollIntervalMs: number;
  /** Each attempt's whole deadline, from connecting to the last byte read. */
  timeoutMs: number;
  /** Attempts in flight at once, in all. */
  concurrency: number;
  /** Attempts in flight at once to any one endpoint. */
  maxPerEndpoint: number;
  logger: Logger;
  /** Where database failures are logged as state changes; the process shares one. */
  outage: OutageReporter;
  /** Counts posts by result (Prometheus metrics). */
  telemetry?: Telemetry;
  clock?: () => number;
}

/**
 * Posts queued status webhooks to applications' endpoints: claims due status webhooks with a
 * lease, signs and posts each, and records the answer. 2xx is `delivered`; anything else is
 * retried with backoff for `retryWindowMs` (24 hours by default) after the event.
 *
 * Posts run as a pool of `concurrency` attempts, at most `maxPerEndpoint` of them to
 * one endpoint, and each attempt ends by `timeoutMs` whatever the receiver does. When an attempt
 * ends, its slot is filled at once from what is due; when nothing is, the sender looks again
 * every `pollIntervalMs`. So a receiver that hangs, trickles or answers without end holds at
 * most its own endpoint's slots, for at most the deadline, and other endpoints' webhooks go out
 * meanwhile.
 */
export class StatusWebhookSender {
  private readonly poster: GuardedPoster;
  private readonly clock: () => number;
  private readonly outage: OutageReporter;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The claim loop, while it runs; `fillAgain` asks for one more pass after it. */
  private filling: Promise<void> | null = null;
  private fillAgain = false;
  /** Attempts in flight, in all and per endpoint. */
  private readonly attempts = new Set<Promise<void>>();
  private readonly busy = new Map<string, number>();

  constructor(private readonly options: StatusWebhookSenderOptions) {
    this.clock = options.clock ?? Date.now;
    this.outage = options.outage;
    this.backoff = statusWebhookBackoff(options.retryBaseMs);
    this.poster = new GuardedPoster({
      allowPrivate: options.allowPrivate,
      timeoutMs: options.timeoutMs,
    });
  }

  start(): void {
    this.poll(this.options.pollIntervalMs);
  }

  /** Stops claiming, lets the attempts in flight end (each within its deadline), and closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.filling;
    await Promise.allSettled([...this.attempts]);
    await this.poster.close();
  }

  private poll(afterMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fill();
    }, afterMs);
  }

  /** Claims due status webhooks into the free slots, one pass at a time; then polls again later. */
  private fill(): void {
    if (this.stopped) return;
    if (this.filling) {
      this.fillAgain = true;
      return;
    }
    this.filling = this.claimWhileRoom()
      .then(
        () => this.outage.succeeded('delivering status webhooks'),
        // Every poll fails while the database is away: logged once, not every poll.
        (err: unknown) => this.outage.failed('delivering status webhooks', err),
      )
      .finally(() => {
        this.filling = null;
        if (this.fillAgain && !this.stopped) {
          this.fillAgain = false;
          this.fill();
        } else {
          this.poll(this.options.pollIntervalMs);
        }
      });
  }

  private async claimWhileRoom(): Promise<void> {
    const { store, concurrency, maxPerEndpoint, timeoutMs } = this.options;
    while (!this.stopped && this.attempts.size < concurrency) {
      const due = await store.claimDue({
        slots: concurrency - this.attempts.size,
        perEndpoint: maxPerEndpoint,
        busy: this.busy,
        leaseMs: timeoutMs + LEASE_MARGIN_MS,
        now: this.clock(),
      });
      if (due.length === 0) return;
      for (const webhook of due) this.launch(webhook);
    }
  }

  private launch(webhook: DueWebhookDelivery): void {
    const endpoint = webhook.endpointId;
    this.busy.set(endpoint, (this.busy.get(endpoint) ?? 0) + 1);
    const attempt: Promise<void> = this.postAndRecord(webhook)
      .then(
        () => this.outage.succeeded('recording status webhook results'),
        // The result could not be recorded; the lease runs out and the webhook is posted again.
        (err: unknown) =>
          this.outage.failed('recording status webhook results', err, { delivery: webhook.id }),
      )
      .finally(() => {
        this.attempts.delete(attempt);
        const left = (this.busy.get(endpoint) ?? 1) - 1;
        if (left > 0) this.busy.set(endpoint, left);
        else this.busy.delete(endpoint);
        // A slot is free: fill it now rather than at the next poll.
        this.fill();
      });
    this.attempts.add(attempt);
  }

  /** One try of one status webhook: post it, then record the answer and what comes next. */
  private async postAndRecord(webhook: DueWebhookDelivery): Promise<void> {
    const { store } = this.options;
    if (!webhook.url || !webhook.secret) {
      await store.recordAttempt(webhook.id, {
        status: 'failed',
        httpStatus: null,
        error: 'endpoint deleted',
        nextAttemptAt: null,
        now: this.clock(),
      });
      return;
    }
    const timestamp = Math.floor(this.clock() / 1000);
    const signatures = webhookSignatures(
      { current: webhook.secret, previous: webhook.previousSecret },
      timestamp,
      webhook.payload,
    );
    const { httpStatus, error } = await this.poster.post(
      webhook.url,
      {
        'user-agent': 'Tegami-Webhooks/1',
        [WEBHOOK_HEADERS.id]: webhook.id,
        [WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [WEBHOOK_HEADERS.signature]: signatures.single,
        [WEBHOOK_HEADERS.signatures]: signatures.all,
      },
      webhook.payload,
    );
    const now = this.clock();
    if (error === null) {
      this.options.telemetry?.statusWebhookPosted('delivered');
      await store.recordAttempt(webhook.id, {
        status: 'delivered',
        httpStatus,
        error: null,
        nextAttemptAt: null,
        now,
      });
      return;
    }
    const attempts = webhook.attempts + 1;
    const next = now + backoffDelayMs(this.backoff, attempts);
    const giveUp = next > webhook.retryFrom + this.options.retryWindowMs;
    this.options.telemetry?.statusWebhookPosted(giveUp ? 'failed' : 'retrying');
    await store.recordAttempt(webhook.id, {
      status: giveUp ? 'failed' : 'pending',
      httpStatus,
      error: error.slice(0, ERROR_LIMIT),
      nextAttemptAt: giveUp ? null : next,
      now,
    });
  }
}
