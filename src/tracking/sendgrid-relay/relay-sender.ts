import type { Logger } from 'pino';
import { type Backoff, backoffDelayMs } from '../../domain/backoff.ts';
import type { OutageReporter } from '../../domain/ports/outage-reporter.ts';
import type {
  RelayedEvent,
  SendGridEventRelayStore,
} from '../../domain/ports/sendgrid-event-relay-store.ts';
import {
  RELAY_BATCH_SIZE,
  RELAY_SIGNATURE_HEADER,
  RELAY_TIMESTAMP_HEADER,
  relayedEvent,
  signRelayPost,
} from '../../domain/sendgrid-compat/event-relay.ts';
import { statusWebhookBackoff } from '../../domain/status-webhooks.ts';
import { GuardedPoster } from '../guarded-post.ts';

/** A claimed batch is leased for the post's deadline plus this margin to record the result. */
const LEASE_MARGIN_MS = 20_000;
const ERROR_LIMIT = 500;

export interface EventRelaySenderOptions {
  store: SendGridEventRelayStore;
  /** The status webhooks' settings: the relay is retried as they are. */
  allowPrivate: boolean;
  retryBaseMs: number;
  retryWindowMs: number;
  pollIntervalMs: number;
  timeoutMs: number;
  logger: Logger;
  outage: OutageReporter;
  clock?: () => number;
}

/**
 * Posts queued delivery events to units' old SendGrid Event Webhook URLs, in SendGrid's format
 * and batches and signed with SendGrid's scheme (domain/sendgrid-compat/event-relay.ts). One post
 * at a time per sender: a post carries up to RELAY_BATCH_SIZE events of one unit. 2xx takes the
 * events off the queue; anything else retries the batch with the status webhooks' backoff until
 * their retry window, counted from when each event was queued, has passed.
 */
export class EventRelaySender {
  private readonly poster: GuardedPoster;
  private readonly clock: () => number;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: EventRelaySenderOptions) {
    this.clock = options.clock ?? Date.now;
    this.backoff = statusWebhookBackoff(options.retryBaseMs);
    // The same guard as status webhooks: no private destinations, one deadline per post.
    this.poster = new GuardedPoster({
      allowPrivate: options.allowPrivate,
      timeoutMs: options.timeoutMs,
    });
  }

  start(): void {
    this.schedule(0);
  }

  /** Looks for due events now (events were just queued in this process). */
  wake(): void {
    if (!this.running && !this.stopped) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.poster.close();
  }

  private schedule(afterMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.drain()
        .then(
          () => this.options.outage.succeeded('relaying SendGrid events'),
          (err: unknown) => this.options.outage.failed('relaying SendGrid events', err),
        )
        .finally(() => {
          this.running = null;
          this.schedule(this.options.pollIntervalMs);
        });
    }, afterMs);
  }

  /** Posts due batches until none is due. */
  private async drain(): Promise<void> {
    const { store, timeoutMs } = this.options;
    while (!this.stopped) {
      const batch = await store.claimDue(
        this.clock(),
        RELAY_BATCH_SIZE,
        timeoutMs + LEASE_MARGIN_MS,
      );
      if (batch.length === 0) return;
      await this.postBatch(batch);
    }
  }

  private async postBatch(batch: RelayedEvent[]): Promise<void> {
    const { store } = this.options;
    const keys = batch.map((e) => e.eventKey);
    const unitId = batch[0]?.unitId as string;
    const relay = await store.get(unitId);
    if (!relay) return; // Removed meanwhile; its queue went with it.
    const body = JSON.stringify(batch.map((e) => relayedEvent(e.payload, e.xMessageId)));
    const { httpStatus, error } = await this.post(relay.url, relay.privateKey, body);
    if (error === null) {
      await store.posted(keys);
      return;
    }
    const now = this.clock();
    const attempts = Math.max(...batch.map((e) => e.attempts)) + 1;
    const next = now + backoffDelayMs(this.backoff, attempts);
    const oldest = Math.min(...batch.map((e) => e.queuedAt));
    const giveUp = next > oldest + this.options.retryWindowMs;
    if (giveUp) {
      this.options.logger.warn(
        { unit: unitId, events: keys.length, http_status: httpStatus, error },
        'SendGrid event relay gave up on a batch after its retry window',
      );
    }
    await store.retryLater(keys, {
      httpStatus,
      error: error.slice(0, ERROR_LIMIT),
      nextAttemptAt: giveUp ? null : next,
    });
  }

  /** One post, signed as SendGrid signs; over by `timeoutMs` whatever the receiver does. */
  private post(url: string, privateKey: string, body: string) {
    const timestamp = String(Math.floor(this.clock() / 1000));
    return this.poster.post(
      url,
      {
        // SendGrid's Event Webhook identifies itself so.
        'user-agent': 'SendGrid Event API',
        [RELAY_TIMESTAMP_HEADER]: timestamp,
        [RELAY_SIGNATURE_HEADER]: signRelayPost(privateKey, timestamp, body),
      },
      body,
    );
  }
}
