import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { Agent, request } from 'undici';

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

export interface AcceptedSend {
  /** The X-Message-Id answered to the client. */
  xMessageId: string;
  /** When the send was accepted, in milliseconds since the epoch. */
  receivedAt: number;
  /** The validated mail/send JSON body. */
  // biome-ignore lint/suspicious/noExplicitAny: the body is validated JSON of a large, loose shape
  body: any;
}

/** One event as posted: SendGrid's field names, custom_args flattened onto the top level. */
export type SendGridEvent = Record<string, unknown>;

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
export const SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

// ---------------------------------------------------------------------------------------------
// Signing

/** Loads an EC P-256 private key from PEM (PKCS#8 or SEC1) or base64 DER (PKCS#8 or SEC1). */
export function loadSigningKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.includes('-----BEGIN')) key = createPrivateKey(trimmed);
    else {
      const der = Buffer.from(trimmed, 'base64');
      try {
        key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      } catch {
        key = createPrivateKey({ key: der, format: 'der', type: 'sec1' });
      }
    }
  } catch {
    throw new Error('event signing key is not a PEM or base64 DER (PKCS#8) private key');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('event signing key must be an EC P-256 (prime256v1) private key');
  }
  return key;
}

/** A fresh P-256 key pair: the private key as base64 PKCS#8 DER, the public one as SPKI DER. */
export function generateSigningKey(): { privateKeyBase64: string; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyBase64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}

/** The verification key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo. */
export function publicKeyBase64Of(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64');
}

/** Base64 DER ECDSA (SHA-256) signature over the UTF-8 timestamp followed by the payload bytes. */
export function signPayload(privateKey: KeyObject, timestamp: string, payload: Buffer): string {
  const data = Buffer.concat([Buffer.from(timestamp, 'utf8'), payload]);
  return sign('sha256', data, privateKey).toString('base64');
}

/** Verifies a signature the way a receiver does, from the base64 public key string alone. */
export function verifySignature(
  publicKeyBase64: string,
  timestamp: string,
  payload: Buffer,
  signatureBase64: string,
): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.from(publicKeyBase64, 'base64'),
      format: 'der',
      type: 'spki',
    });
    const data = Buffer.concat([Buffer.from(timestamp, 'utf8'), payload]);
    return verify('sha256', data, key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Event generation (pure)

/** What happens to a recipient, chosen by the local part of its address (before any `+`). */
export type Outcome =
  | 'deliver'
  | 'bounce'
  | 'block'
  | 'defer'
  | 'drop'
  | 'open'
  | 'click'
  | 'spam'
  | 'unsubscribe';

const PATTERNS: ReadonlySet<string> = new Set([
  'bounce',
  'block',
  'defer',
  'drop',
  'open',
  'click',
  'spam',
  'unsubscribe',
]);

/** `bounce@x`, `Bounce+anything@x` → bounce; an unknown local part → deliver. */
export function outcomeFor(email: string): Outcome {
  const at = email.lastIndexOf('@');
  const local = (at < 0 ? email : email.slice(0, at)).toLowerCase();
  const plus = local.indexOf('+');
  const prefix = plus < 0 ? local : local.slice(0, plus);
  return PATTERNS.has(prefix) ? (prefix as Outcome) : 'deliver';
}

/** Values used in generated events (fixed, so tests and docs can name them). */
export const SIMULATED = {
  sendingIp: '198.51.100.25',
  recipientIp: '203.0.113.7',
  userAgent:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  deliveredResponse: '250 OK',
  deferredResponse: '451 4.7.1 Temporarily deferred, please try again later',
  bounceReason: '550 5.1.1 The email account that you tried to reach does not exist.',
  bounceStatus: '5.1.1',
  bounceClassification: 'Invalid Address',
  blockReason: '554 5.7.1 Service unavailable; client host blocked using a reputation list',
  blockStatus: '5.7.1',
  blockClassification: 'Reputation',
  dropReason: 'Bounced Address',
  dropStatus: '5.0.0',
  defaultClickUrl: 'https://example.com/',
  unsubscribeUrl: 'https://sendgrid.simulator.invalid/asm/unsubscribe',
} as const;

/** Top-level names SendGrid owns: a custom arg of that name never replaces them. */
const RESERVED = new Set([
  'email',
  'timestamp',
  'event',
  'smtp-id',
  'sg_event_id',
  'sg_message_id',
  'category',
  'reason',
  'status',
  'response',
  'attempt',
  'type',
  'bounce_classification',
  'ip',
  'tls',
  'useragent',
  'url',
  'url_offset',
  'sg_machine_open',
  'asm_group_id',
  'pool',
  'unique_args',
  'custom_args',
  'marketing_campaign_id',
  'marketing_campaign_name',
  'newsletter',
  '__proto__',
]);

export interface GenerateOptions {
  /** Milliseconds between successive events of one recipient. */
  eventDelayMs: number;
  /** Open + click for every delivered recipient. */
  engagement: boolean;
}

export interface ScheduledEvent {
  /** When the event happens, in milliseconds since the epoch. */
  at: number;
  event: SendGridEvent;
}

// biome-ignore lint/suspicious/noExplicitAny: loose validated JSON
type Json = any;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** v3 allows message-level custom_args as an object; a JSON string of one is accepted too. */
function customArgsOf(value: unknown): Record<string, unknown> {
  if (isObject(value)) return value;
  if (typeof value === 'string') {
    try {
      const parsed = JSON.parse(value);
      if (isObject(parsed)) return parsed;
    } catch {
      // not JSON: no custom args
    }
  }
  return {};
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === 'string' && value.trim() !== '') {
      return value.trim();
    }
  }
  return undefined;
}

/** The first link a recipient could click: an html href, else a URL in the text part. */
function firstLink(body: Json): { url: string; type: 'html' | 'text' } {
  const content: Json[] = Array.isArray(body?.content) ? body.content : [];
  for (const part of content) {
    if (part?.type === 'text/html' && typeof part.value === 'string') {
      const match = /href\s*=\s*["'](https?:\/\/[^"'\s>]+)/i.exec(part.value);
      if (match?.[1]) return { url: match[1], type: 'html' };
    }
  }
  for (const part of content) {
    if (part?.type === 'text/plain' && typeof part.value === 'string') {
      const match = /https?:\/\/[^\s<>"']+/i.exec(part.value);
      if (match) return { url: match[0], type: 'text' };
    }
  }
  return { url: SIMULATED.defaultClickUrl, type: 'html' };
}

/** A small stable id for an IP pool name (SendGrid reports `pool: { name, id }`). */
function poolId(name: string): number {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) % 100_000;
  return hash + 1;
}

/**
 * Every event SendGrid would emit for `send`, each with the time it happens: recipient after
 * recipient (to, cc, bcc of each personalization), a recipient's events `eventDelayMs` apart from
 * the send time (its `send_at` when that is later than `receivedAt`). `newEventId` gives each
 * event its `sg_event_id`. Pure: the same inputs and ids give the same output.
 */
export function generateEvents(
  send: AcceptedSend,
  options: GenerateOptions,
  newEventId: () => string,
): ScheduledEvent[] {
  const body: Json = send.body ?? {};
  if (body.mail_settings?.sandbox_mode?.enable === true) return [];
  const out: ScheduledEvent[] = [];
  const personalizations: Json[] = Array.isArray(body.personalizations)
    ? body.personalizations
    : [];
  const messageArgs = customArgsOf(body.custom_args);
  const categories: unknown = body.categories;
  const category =
    typeof categories === 'string'
      ? categories
      : Array.isArray(categories) && categories.length > 0
        ? [...categories]
        : undefined;
  const asmGroupId = Number.isInteger(body.asm?.group_id) ? (body.asm.group_id as number) : null;
  const poolName = typeof body.ip_pool_name === 'string' ? body.ip_pool_name : null;
  const tracking = body.tracking_settings ?? {};
  const openTracked = tracking.open_tracking?.enable !== false;
  const clickTracked = tracking.click_tracking?.enable !== false;
  const hexSeconds = Math.floor(send.receivedAt / 1000)
    .toString(16)
    .toUpperCase();
  let link: { url: string; type: 'html' | 'text' } | undefined;
  let recipientIndex = 0;

  for (const p of personalizations) {
    const args = { ...messageArgs, ...customArgsOf(p?.custom_args) };
    const argEntries = Object.entries(args).filter(([key]) => !RESERVED.has(key));
    const sendAt = Number.isInteger(p?.send_at) ? p.send_at : body.send_at;
    const start = Number.isInteger(sendAt)
      ? Math.max(send.receivedAt, sendAt * 1000)
      : send.receivedAt;
    const smtpId =
      headerValue(p?.headers, 'message-id') ??
      headerValue(body.headers, 'message-id') ??
      `<${send.xMessageId}@ismtpd-sim>`;
    const recipients: Json[] = [
      ...(Array.isArray(p?.to) ? p.to : []),
      ...(Array.isArray(p?.cc) ? p.cc : []),
      ...(Array.isArray(p?.bcc) ? p.bcc : []),
    ];

    for (const recipient of recipients) {
      const email: unknown = recipient?.email;
      if (typeof email !== 'string') continue;
      const sgMessageId = `${send.xMessageId}.filterdrecv-sim-1-${hexSeconds}-${recipientIndex}.0`;
      recipientIndex++;
      let step = 0;
      const emit = (name: string, fields: Record<string, unknown>, delivery: boolean) => {
        const at = start + step * options.eventDelayMs;
        step++;
        const event: SendGridEvent = { email, timestamp: Math.floor(at / 1000) };
        if (delivery) event['smtp-id'] = smtpId;
        event.event = name;
        if (category !== undefined && name !== 'group_unsubscribe') {
          event.category = Array.isArray(category) ? [...category] : category;
        }
        event.sg_event_id = newEventId();
        event.sg_message_id = sgMessageId;
        Object.assign(event, fields);
        for (const [key, value] of argEntries) if (!Object.hasOwn(event, key)) event[key] = value;
        out.push({ at, event });
      };
      const asm = asmGroupId === null ? {} : { asm_group_id: asmGroupId };
      const pool = poolName === null ? {} : { pool: { name: poolName, id: poolId(poolName) } };

      const outcome = outcomeFor(email);
      if (outcome === 'drop') {
        emit(
          'dropped',
          { reason: SIMULATED.dropReason, status: SIMULATED.dropStatus, ...asm },
          true,
        );
        continue;
      }
      emit('processed', { ...asm, ...pool }, true);
      if (outcome === 'bounce' || outcome === 'block') {
        const hard = outcome === 'bounce';
        emit(
          'bounce',
          {
            reason: hard ? SIMULATED.bounceReason : SIMULATED.blockReason,
            status: hard ? SIMULATED.bounceStatus : SIMULATED.blockStatus,
            type: hard ? 'bounce' : 'blocked',
            bounce_classification: hard
              ? SIMULATED.bounceClassification
              : SIMULATED.blockClassification,
            ip: SIMULATED.sendingIp,
            tls: hard ? 1 : 0,
            ...asm,
          },
          true,
        );
        continue;
      }
      if (outcome === 'defer') {
        for (const attempt of ['1', '2']) {
          emit(
            'deferred',
            { response: SIMULATED.deferredResponse, attempt, ip: SIMULATED.sendingIp, ...asm },
            true,
          );
        }
      }
      emit(
        'delivered',
        { response: SIMULATED.deliveredResponse, ip: SIMULATED.sendingIp, tls: 1, ...asm },
        true,
      );
      const wantsOpen = openTracked && (options.engagement || outcome === 'open');
      const wantsClick = clickTracked && (options.engagement || outcome === 'click');
      if (wantsOpen) {
        emit(
          'open',
          {
            useragent: SIMULATED.userAgent,
            ip: SIMULATED.recipientIp,
            sg_machine_open: false,
            ...asm,
          },
          false,
        );
      }
      if (wantsClick) {
        link ??= firstLink(body);
        emit(
          'click',
          {
            useragent: SIMULATED.userAgent,
            ip: SIMULATED.recipientIp,
            url: link.url,
            url_offset: { index: 0, type: link.type },
            ...asm,
          },
          false,
        );
      }
      if (outcome === 'spam') emit('spamreport', {}, false);
      if (outcome === 'unsubscribe') {
        if (asmGroupId === null) emit('unsubscribe', {}, false);
        else {
          emit(
            'group_unsubscribe',
            {
              useragent: SIMULATED.userAgent,
              ip: SIMULATED.recipientIp,
              url: SIMULATED.unsubscribeUrl,
              asm_group_id: asmGroupId,
            },
            false,
          );
        }
      }
    }
  }
  return out;
}

/** URL-safe 22-character random ids, drawn from a pooled random buffer. */
export function eventIdFactory(): () => string {
  let pool = randomBytes(4096);
  let offset = 0;
  return () => {
    if (offset + 16 > pool.length) {
      pool = randomBytes(4096);
      offset = 0;
    }
    const id = pool.toString('base64url', offset, offset + 16);
    offset += 16;
    return id;
  };
}

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
