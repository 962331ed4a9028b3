import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Agent, request } from 'undici';
import {
  type AcceptedSend,
  eventIdFactory,
  generateEvents,
  type SendGridEvent,
} from './generate-events.ts';
import {
  loadSigningKey,
  publicKeyBase64Of,
  SIGNATURE_HEADER,
  signPayload,
  TIMESTAMP_HEADER,
} from './signing.ts';

/**
 * SendGrid's Event Webhook, simulated: every recipient of an accepted `POST /v3/mail/send` gets
 * the delivery (and, for some addresses, engagement) events SendGrid would post, batched as JSON
 * arrays and signed like SendGrid's Signed Event Webhook (ECDSA P-256 over timestamp + raw body).
 *
 * Which events a recipient gets depends on its address (see `outcomeFor`). Event generation is
 * the pure function `generateEvents`; `EventWebhookEmitter` schedules its output on one periodic
 * sweep (a timer wheel keyed by tick), batches what is due and posts it with retries.
 */

export interface EventWebhookOptions {
  /** Where to POST events; null = record only, post nothing. */
  url: string | null;
  /** Base64 PKCS#8 DER (or SEC1 DER) or PEM EC P-256 private key; a fresh one if absent. */
  signingKey?: string;
  /** Max events per POST. */
  batchSize?: number;
  /** How long emitted events may wait for a batch to fill before it is posted anyway. */
  flushIntervalMs?: number;
  /** Delay between successive events of one recipient. */
  eventDelayMs?: number;
  /** First retry delay when the endpoint does not answer 2xx; doubles per attempt. */
  retryBaseMs?: number;
  /** How long a batch is retried, counted from its first attempt (SendGrid: 24 hours). */
  retryWindowMs?: number;
  /** Emit open + click for every delivered recipient. */
  engagement?: boolean;
}

export interface DeliveryRecord {
  id: string;
  events: number;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  delivered: boolean;
  first_attempt_at: string | null;
  last_attempt_at: string | null;
  /** When the next attempt is due; null once delivered or given up. */
  next_attempt_at: string | null;
}

export interface EventWebhookSnapshot {
  /** The most recently emitted events (at most RECORDED_EVENTS_LIMIT), oldest first. */
  events: SendGridEvent[];
  /** The most recent batches (at most RECORDED_DELIVERIES_LIMIT), oldest first. */
  deliveries: DeliveryRecord[];
  /** Events not yet successfully delivered (scheduled, waiting for a batch, or being retried). */
  pending: number;
  /** Every event emitted since start (or the last reset), including those no longer listed. */
  emitted: number;
}

export const DEFAULTS = {
  batchSize: 100,
  flushIntervalMs: 250,
  eventDelayMs: 200,
  retryBaseMs: 1000,
  retryWindowMs: 24 * 60 * 60 * 1000,
} as const;

export const RECORDED_EVENTS_LIMIT = 100_000;
export const RECORDED_DELIVERIES_LIMIT = 10_000;
/** Undelivered events kept for retry; beyond this the oldest waiting batches are discarded. */
export const BACKLOG_LIMIT = 200_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;
const MAX_IN_FLIGHT = 8;
const USER_AGENT = 'SendGrid Event API';
// ---------------------------------------------------------------------------------------------
// Scheduling, batching and delivery

/** A fixed-capacity list that keeps the newest items. */
class Ring<T> {
  private items: T[] = [];
  private start = 0;
  constructor(private readonly capacity: number) {}
  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  toArray(): T[] {
    return this.start === 0
      ? this.items.slice()
      : [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
  clear(): void {
    this.items = [];
    this.start = 0;
  }
}

interface Batch {
  count: number;
  payload: Buffer;
  record: DeliveryRecord;
  firstAttemptAt: number;
  nextAttemptAt: number;
  inFlight: boolean;
  cancelled: boolean;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0`);
  return value;
}

export class EventWebhookEmitter {
  readonly publicKeyBase64: string;
  private readonly url: string | null;
  private readonly key: KeyObject;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly eventDelayMs: number;
  private readonly retryBaseMs: number;
  private readonly retryWindowMs: number;
  private readonly engagement: boolean;
  private readonly tickMs: number;
  private readonly newEventId = eventIdFactory();
  private readonly agent: Agent | null;

  /** Timer wheel: tick number → events due in that tick, in scheduling order. */
  private wheel = new Map<number, SendGridEvent[]>();
  private nextTick = 0;
  private scheduled = 0;
  /** Emitted events not yet in a batch. */
  private queue: SendGridEvent[] = [];
  private lastFlushAt = Date.now();
  /** Batches not yet delivered nor given up, oldest first (in flight ones included). */
  private batches = new Set<Batch>();
  private backlog = 0;
  private inFlight = new Map<Batch, { controller: AbortController; done: Promise<void> }>();
  private batchSeq = 0;
  private recorded = new Ring<SendGridEvent>(RECORDED_EVENTS_LIMIT);
  private deliveries = new Ring<DeliveryRecord>(RECORDED_DELIVERIES_LIMIT);
  private emittedCount = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: EventWebhookOptions) {
    if (options.url !== null) {
      const parsed = new URL(options.url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new Error('event webhook URL must be http:// or https://');
      }
    }
    this.url = options.url;
    if (options.signingKey !== undefined && options.signingKey.trim() !== '') {
      this.key = loadSigningKey(options.signingKey);
    } else {
      this.key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    }
    this.publicKeyBase64 = publicKeyBase64Of(this.key);
    this.batchSize = Math.max(
      1,
      Math.floor(nonNegative(options.batchSize, DEFAULTS.batchSize, 'batchSize')),
    );
    this.flushIntervalMs = nonNegative(
      options.flushIntervalMs,
      DEFAULTS.flushIntervalMs,
      'flushIntervalMs',
    );
    this.eventDelayMs = nonNegative(options.eventDelayMs, DEFAULTS.eventDelayMs, 'eventDelayMs');
    this.retryBaseMs = Math.max(
      1,
      nonNegative(options.retryBaseMs, DEFAULTS.retryBaseMs, 'retryBaseMs'),
    );
    this.retryWindowMs = nonNegative(
      options.retryWindowMs,
      DEFAULTS.retryWindowMs,
      'retryWindowMs',
    );
    this.engagement = options.engagement === true;
    const finest = Math.min(
      50,
      this.flushIntervalMs || 50,
      this.eventDelayMs || 50,
      this.retryBaseMs,
    );
    this.tickMs = Math.max(5, Math.floor(finest));
    this.agent = this.url === null ? null : new Agent({ connections: MAX_IN_FLIGHT });
  }

  /** Schedules the events of every recipient of every personalization of `send`. */
  accepted(send: AcceptedSend): void {
    if (this.closed) return;
    const generated = generateEvents(
      send,
      { eventDelayMs: this.eventDelayMs, engagement: this.engagement },
      this.newEventId,
    );
    if (generated.length === 0) return;
    if (this.scheduled === 0) this.nextTick = Math.floor(Date.now() / this.tickMs);
    for (const { at, event } of generated) {
      const tick = Math.max(Math.floor(at / this.tickMs), this.nextTick);
      const bucket = this.wheel.get(tick);
      if (bucket) bucket.push(event);
      else this.wheel.set(tick, [event]);
    }
    this.scheduled += generated.length;
    this.startTimer();
  }

  snapshot(): EventWebhookSnapshot {
    return {
      events: this.recorded.toArray(),
      deliveries: this.deliveries.toArray().map((record) => ({ ...record })),
      pending: this.scheduled + (this.url === null ? 0 : this.queue.length + this.backlog),
      emitted: this.emittedCount,
    };
  }

  /** Drops scheduled, queued and undelivered events (aborting posts in flight) and all records. */
  reset(): void {
    this.cancelAll();
    this.wheel.clear();
    this.scheduled = 0;
    this.queue = [];
    this.recorded.clear();
    this.deliveries.clear();
    this.emittedCount = 0;
    this.stopTimer();
  }

  /** Stops the timer, aborts posts in flight and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    const running = [...this.inFlight.values()].map((entry) => entry.done);
    this.cancelAll();
    await Promise.allSettled(running);
    await this.agent?.destroy().catch(() => {});
  }

  private cancelAll(): void {
    for (const batch of this.batches) batch.cancelled = true;
    for (const { controller } of this.inFlight.values()) {
      controller.abort(new Error('event webhook emitter reset or closed'));
    }
    this.batches.clear();
    this.backlog = 0;
  }

  private startTimer(): void {
    if (this.timer !== null || this.closed) return;
    this.lastFlushAt = Date.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = Date.now();
    this.sweep(now);
    this.flush(now);
    this.pump(now);
    if (this.scheduled === 0 && this.queue.length === 0 && this.batches.size === 0) {
      this.stopTimer();
    }
  }

  /** Emits every event whose tick has come. */
  private sweep(now: number): void {
    const current = Math.floor(now / this.tickMs);
    if (this.scheduled > 0) {
      for (let tick = this.nextTick; tick <= current; tick++) {
        const bucket = this.wheel.get(tick);
        if (bucket === undefined) continue;
        this.wheel.delete(tick);
        this.scheduled -= bucket.length;
        for (const event of bucket) {
          this.recorded.push(event);
          this.emittedCount++;
          if (this.url !== null) this.queue.push(event);
        }
      }
    }
    this.nextTick = current + 1;
  }

  /** Full batches leave at once; a partial one when the flush interval has passed. */
  private flush(now: number): void {
    if (this.url === null || this.queue.length === 0) {
      this.lastFlushAt = now;
      return;
    }
    const due = now - this.lastFlushAt >= this.flushIntervalMs;
    let taken = 0;
    while (this.queue.length - taken >= this.batchSize) {
      this.addBatch(this.queue.slice(taken, taken + this.batchSize), now);
      taken += this.batchSize;
    }
    if (due && taken < this.queue.length) {
      this.addBatch(this.queue.slice(taken), now);
      taken = this.queue.length;
    }
    if (due) this.lastFlushAt = now;
    if (taken > 0) this.queue = taken === this.queue.length ? [] : this.queue.slice(taken);
  }

  private addBatch(events: SendGridEvent[], now: number): void {
    this.batchSeq++;
    const record: DeliveryRecord = {
      id: `batch_${this.batchSeq}`,
      events: events.length,
      attempts: 0,
      last_status: null,
      last_error: null,
      delivered: false,
      first_attempt_at: null,
      last_attempt_at: null,
      next_attempt_at: iso(now),
    };
    this.batches.add({
      count: events.length,
      payload: Buffer.from(JSON.stringify(events), 'utf8'),
      record,
      firstAttemptAt: 0,
      nextAttemptAt: now,
      inFlight: false,
      cancelled: false,
    });
    this.deliveries.push(record);
    this.backlog += events.length;
    // Bound memory while the endpoint is down: discard the oldest batches that wait for a retry.
    if (this.backlog > BACKLOG_LIMIT) {
      for (const batch of this.batches) {
        if (this.backlog <= BACKLOG_LIMIT) break;
        if (batch.inFlight) continue;
        this.finish(batch, false, `discarded: more than ${BACKLOG_LIMIT} events undelivered`);
      }
    }
  }

  /** Starts posts for due batches, oldest first, up to MAX_IN_FLIGHT at a time. */
  private pump(now: number): void {
    if (this.closed) return;
    for (const batch of this.batches) {
      if (this.inFlight.size >= MAX_IN_FLIGHT) return;
      if (!batch.inFlight && batch.nextAttemptAt <= now) this.post(batch);
    }
  }

  private post(batch: Batch): void {
    const url = this.url;
    const agent = this.agent;
    if (url === null || agent === null) return;
    batch.inFlight = true;
    const controller = new AbortController();
    const timeout = setTimeout(
      () => controller.abort(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    const started = Date.now();
    if (batch.record.attempts === 0) {
      batch.firstAttemptAt = started;
      batch.record.first_attempt_at = iso(started);
    }
    const timestamp = String(Math.floor(started / 1000));
    const signature = signPayload(this.key, timestamp, batch.payload);
    // Registered before the request starts, so an immediate failure cannot outrun it.
    const entry = { controller, done: Promise.resolve() };
    this.inFlight.set(batch, entry);
    entry.done = (async () => {
      let status: number | null = null;
      let error: string | null = null;
      try {
        const response = await request(url, {
          method: 'POST',
          dispatcher: agent,
          signal: controller.signal,
          headers: {
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            [SIGNATURE_HEADER]: signature,
            [TIMESTAMP_HEADER]: timestamp,
          },
          body: batch.payload,
        });
        status = response.statusCode;
        await response.body.dump().catch(() => {});
        if (status < 200 || status > 299) error = `HTTP ${status}`;
      } catch (err) {
        const reason = controller.signal.aborted ? controller.signal.reason : err;
        error = reason instanceof Error ? reason.message : String(reason);
      } finally {
        clearTimeout(timeout);
        this.inFlight.delete(batch);
      }
      batch.inFlight = false;
      if (batch.cancelled || this.closed) return;
      this.attempted(batch, status, error);
      this.pump(Date.now());
    })();
  }

  private attempted(batch: Batch, status: number | null, error: string | null): void {
    const now = Date.now();
    const record = batch.record;
    record.attempts++;
    record.last_status = status;
    record.last_error = error;
    record.last_attempt_at = iso(now);
    if (error === null) {
      this.finish(batch, true, null);
      return;
    }
    const delay = Math.min(this.retryBaseMs * 2 ** (record.attempts - 1), MAX_RETRY_DELAY_MS);
    const next = now + delay;
    if (next - batch.firstAttemptAt > this.retryWindowMs) {
      this.finish(batch, false, `${error}; gave up after ${record.attempts} attempts`);
      return;
    }
    batch.nextAttemptAt = next;
    record.next_attempt_at = iso(next);
    this.startTimer();
  }

  private finish(batch: Batch, delivered: boolean, error: string | null): void {
    batch.record.delivered = delivered;
    batch.record.next_attempt_at = null;
    if (error !== null) batch.record.last_error = error;
    batch.payload = Buffer.alloc(0);
    this.batches.delete(batch);
    this.backlog -= batch.count;
  }
}
