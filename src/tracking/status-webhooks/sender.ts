import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { type Backoff, backoffDelayMs } from '../../domain/backoff.ts';
import type { OutageReporter } from '../../domain/ports/outage-reporter.ts';
import type {
  DueWebhookDelivery,
  StatusWebhookStore,
} from '../../domain/ports/status-webhook-store.ts';
import { signWebhook, statusWebhookBackoff } from '../../domain/status-webhooks.ts';
import { isPrivateAddress } from './destination-guard.ts';

/**
 * A claimed status webhook is leased for its attempt's deadline plus this margin for recording
 * the result; a sender that dies leaves it due again when the lease ends.
 */
const LEASE_MARGIN_MS = 20_000;
/**
 * How much of an answer's body is read: enough for the start of an error message. Whatever
 * follows is not read; the connection is closed instead, so a huge or endless reply costs
 * nothing.
 */
const BODY_READ_LIMIT = 4096;
/** How much of a non-2xx answer's body goes into the delivery log. */
const BODY_EXCERPT_CHARS = 200;
const ERROR_LIMIT = 500;

class DestinationRefused extends Error {
  readonly code = 'EDESTINATIONREFUSED';
  constructor() {
    super(DESTINATION_NOT_ALLOWED);
  }
}

/** The headers of a status webhook POST (HTTP reads them in any case; the docs use these). */
export const WEBHOOK_HEADERS = {
  id: 'Tegami-Webhook-Id',
  timestamp: 'Tegami-Webhook-Timestamp',
  signature: 'Tegami-Webhook-Signature',
} as const;

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
export function guardedLookup(
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
    if (!first) return callback(new DestinationRefused(), []);
    callback(null, first.address, first.family);
  });
}

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
  clock?: () => number;
}

/** The attempt's deadline passed. */
class AttemptTimedOut extends Error {}

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
  private readonly agent: Agent;
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
    const { timeoutMs } = options;
    this.agent = new Agent({
      // The attempt's own deadline (an abort signal) bounds everything; these only make undici
      // give up no later than that on its own.
      connect: options.allowPrivate
        ? { timeout: timeoutMs }
        : { timeout: timeoutMs, lookup: guardedLookup },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
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
    await this.agent.close();
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
    const { httpStatus, error } = await this.post(webhook.url, webhook.secret, webhook);
    const now = this.clock();
    if (error === null) {
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
    await store.recordAttempt(webhook.id, {
      status: giveUp ? 'failed' : 'pending',
      httpStatus,
      error: error.slice(0, ERROR_LIMIT),
      nextAttemptAt: giveUp ? null : next,
      now,
    });
  }

  /**
   * One attempt, over by `timeoutMs` whatever the receiver does: it may hang, trickle, send
   * without end, send garbage or close the connection. Never throws.
   */
  private async post(
    url: string,
    secret: string,
    webhook: DueWebhookDelivery,
  ): Promise<{ httpStatus: number | null; error: string | null }> {
    const { timeoutMs } = this.options;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new AttemptTimedOut()), timeoutMs);
    let httpStatus: number | null = null;
    try {
      // An address in the URL is connected to without a look-up, so it is checked here; a name
      // is checked by the connection's own look-up (guardedLookup).
      if (!this.options.allowPrivate && refusedAddressLiteral(url)) throw new DestinationRefused();
      const timestamp = Math.floor(this.clock() / 1000);
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        signal: deadline.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tegami-Webhooks/1',
          [WEBHOOK_HEADERS.id]: webhook.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(secret, timestamp, webhook.payload),
        },
        body: webhook.payload,
      });
      httpStatus = response.statusCode;
      const ok = httpStatus >= 200 && httpStatus <= 299;
      let text = '';
      try {
        text = await readStart(response.body, BODY_READ_LIMIT, deadline.signal);
      } catch (err) {
        // A 2xx status is the receiver's "got it"; a body that stalls or breaks off after it
        // does not undo that.
        if (!ok) throw err;
      }
      if (ok) return { httpStatus, error: null };
      const excerpt = text.replace(/\p{Cc}+/gu, ' ').trim();
      return {
        httpStatus,
        error: `HTTP ${httpStatus}${excerpt ? `: ${excerpt.slice(0, BODY_EXCERPT_CHARS)}` : ''}`,
      };
    } catch (err) {
      const error = deadline.signal.aborted
        ? `timed out: no complete answer within ${timeoutMs} ms`
        : describeFailure(err);
      return { httpStatus, error };
    } finally {
      clearTimeout(timer);
      // Nothing of this attempt may outlive it: a body not read to its end is dropped here.
      if (!deadline.signal.aborted) deadline.abort(new AttemptTimedOut());
    }
  }
}

/** Whether the URL's host is an IP address that must not be posted to. */
export function refusedAddressLiteral(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) !== 0 && isPrivateAddress(host);
}

/**
 * Reads a body up to `limit` bytes (or its end), then drops the rest by destroying the stream,
 * which closes the connection: memory stays at a few KB whatever the receiver sends.
 */
export async function readStart(
  body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown },
  limit: number,
  signal: AbortSignal,
): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  const onAbort = () => body.destroy(new AttemptTimedOut());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      parts.push(chunk.subarray(0, limit - size));
      size += chunk.length;
      if (size >= limit) {
        body.destroy();
        break;
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(parts).toString('utf8');
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
