/**
 * Fault injection for the SendGrid simulator: what the next request to `/v3/...` suffers.
 *
 * `decide()` is a plain function of the fault settings, the fault state (outage end, token
 * bucket), the clock and a random source, so tests can drive it with a seeded random and a
 * fake clock. The server asks it once per request and then carries the decision out.
 */
import type { Faults } from './settings.ts';

/** SendGrid's answer to a message whose first content block is empty. */
const EMPTY_CONTENT_ERROR = {
  message: 'The content value must be a string at least one character in length.',
  field: 'content.0.value',
  help: 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.content.value',
};

/** The 400 errors for a valid mail/send body that `rejectCategories` refuses, or null. */
export function categoryRejection(
  faults: Faults,
  body: { categories?: unknown },
): (typeof EMPTY_CONTENT_ERROR)[] | null {
  const rejected = faults.rejectCategories;
  if (!rejected?.length || !Array.isArray(body.categories)) return null;
  return body.categories.some((c) => typeof c === 'string' && rejected.includes(c))
    ? [EMPTY_CONTENT_ERROR]
    : null;
}

/** SendGrid's answer to mail whose `from` is not a verified Sender Identity. */
const UNVERIFIED_SENDER_ERROR = {
  message:
    'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements',
  field: 'from',
  help: null,
};

/** The 403 errors for a valid mail/send body whose sender `unverifiedSenders` names, or null. */
export function senderRejection(
  faults: Faults,
  body: { from?: { email?: unknown } },
): (typeof UNVERIFIED_SENDER_ERROR)[] | null {
  const unverified = faults.unverifiedSenders;
  const from = body.from?.email;
  if (!unverified?.length || typeof from !== 'string') return null;
  const address = from.toLowerCase();
  const domain = address.slice(address.lastIndexOf('@'));
  return unverified.includes(address) || unverified.includes(domain)
    ? [UNVERIFIED_SENDER_ERROR]
    : null;
}

export type Decision =
  | { kind: 'pass'; delayMs: number }
  | { kind: 'error'; status: number; html: boolean; delayMs: number }
  | { kind: 'rate-limited'; retryAfterSeconds: number; delayMs: number }
  | { kind: 'reset'; delayMs: number }
  | { kind: 'hang' };

/** Mutable fault state: when the current outage ends, and the token bucket. */
export interface FaultState {
  /** Epoch ms when the current outage ends; 0 = no outage. */
  outageEndsAt: number;
  tokens: number;
  tokensAt: number;
}

export const DEFAULT_RETRY_AFTER_SECONDS = 1;

export function initialFaultState(): FaultState {
  return { outageEndsAt: 0, tokens: Number.NaN, tokensAt: 0 };
}

/** Starts the outage in `faults.outage` (if any) at `now`. */
export function startOutage(faults: Faults, state: FaultState, now: number): void {
  state.outageEndsAt = faults.outage ? now + faults.outage.durationMs : 0;
}

/** Whether an outage is running at `now`. */
export function outageActive(faults: Faults, state: FaultState, now: number): boolean {
  return faults.outage !== undefined && now < state.outageEndsAt;
}

/**
 * What happens to one request at `now`. Order: a running outage, then the token bucket, then
 * one random draw for reset / hang / error statuses (their rates add up to at most 1), then the
 * latency. Mutates `state` (the bucket; an outage that has ended is forgotten by the caller).
 */
export function decide(
  faults: Faults,
  state: FaultState,
  now: number,
  random: () => number,
): Decision {
  if (faults.outage && now < state.outageEndsAt) {
    const mode = faults.outage.mode;
    if (mode === 'hang') return { kind: 'hang' };
    const delayMs = latency(faults, random);
    if (mode === 'reset') return { kind: 'reset', delayMs };
    if (mode === '429') {
      const retryAfterSeconds =
        faults.retryAfterSeconds ?? Math.max(1, Math.ceil((state.outageEndsAt - now) / 1000));
      return { kind: 'rate-limited', retryAfterSeconds, delayMs };
    }
    if (mode.startsWith('html-')) {
      return { kind: 'error', status: Number(mode.slice(5)), html: true, delayMs };
    }
    const status = Number(mode);
    return { kind: 'error', status, html: htmlFor(faults, status), delayMs };
  }

  const rate = faults.rateLimitPerSecond;
  if (rate != null && rate > 0) {
    const capacity = Math.max(1, rate);
    const tokens = Number.isNaN(state.tokens)
      ? capacity
      : Math.min(capacity, state.tokens + ((now - state.tokensAt) * rate) / 1000);
    state.tokensAt = now;
    if (tokens < 1) {
      state.tokens = tokens;
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - tokens) / rate));
      return { kind: 'rate-limited', retryAfterSeconds, delayMs: latency(faults, random) };
    }
    state.tokens = tokens - 1;
  }

  const resetRate = faults.resetRate ?? 0;
  const hangRate = faults.hangRate ?? 0;
  const errorRates = faults.errorRates;
  if (resetRate > 0 || hangRate > 0 || errorRates) {
    const r = random();
    let edge = resetRate;
    if (r < edge) return { kind: 'reset', delayMs: latency(faults, random) };
    edge += hangRate;
    if (r < edge) return { kind: 'hang' };
    if (errorRates) {
      for (const status of Object.keys(errorRates).sort()) {
        edge += errorRates[status] ?? 0;
        if (r < edge) {
          const delayMs = latency(faults, random);
          if (status === '429') {
            const retryAfterSeconds = faults.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
            return { kind: 'rate-limited', retryAfterSeconds, delayMs };
          }
          const code = Number(status);
          return { kind: 'error', status: code, html: htmlFor(faults, code), delayMs };
        }
      }
    }
  }
  return { kind: 'pass', delayMs: latency(faults, random) };
}

function htmlFor(faults: Faults, status: number): boolean {
  return faults.htmlErrors === true && (status >= 500 || status === 413);
}

function latency(faults: Faults, random: () => number): number {
  const setting = faults.latencyMs;
  if (setting === undefined) return 0;
  if (typeof setting === 'number') return setting;
  return setting.min + random() * (setting.max - setting.min);
}

/** The faults in the token bucket's view: how many requests are left in the current second. */
export function bucketRemaining(faults: Faults, state: FaultState): number | null {
  const rate = faults.rateLimitPerSecond;
  if (rate == null || rate <= 0) return null;
  return Number.isNaN(state.tokens) ? Math.max(1, rate) : Math.max(0, Math.floor(state.tokens));
}
