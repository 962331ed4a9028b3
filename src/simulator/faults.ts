/**
 * Fault injection for the SendGrid simulator: what the next request to `/v3/...` suffers.
 *
 * `decide()` is a plain function of the fault settings, the fault state (outage end, token
 * bucket), the clock and a random source, so tests can drive it with a seeded random and a
 * fake clock. The server asks it once per request and then carries the decision out.
 */

/** Fault settings: also the JSON body of `PUT /_simulator/faults`. */
export interface Faults {
  /** Delay before answering: a fixed number of ms, or uniformly random in [min, max]. */
  latencyMs?: number | { min: number; max: number };
  /**
   * Delay after a request was accepted (stored, its events scheduled) before the 202 goes out:
   * SendGrid took the mail but the answer is late, so a client that times out does not know.
   */
  lateAnswerMs?: number;
  /** Share of requests (0..1) answered with each status, e.g. `{ "503": 0.1, "429": 0.05 }`. */
  errorRates?: Record<string, number>;
  /** 5xx and 413 answers as an nginx HTML page instead of SendGrid's JSON. */
  htmlErrors?: boolean;
  /** Share of requests whose connection is reset without an answer. */
  resetRate?: number;
  /** Share of requests that are never answered. */
  hangRate?: number;
  /** A real token-bucket rate limit in requests per second; null or absent = none. */
  rateLimitPerSecond?: number | null;
  /** The Retry-After (seconds) sent with 429 answers. Default 1. */
  retryAfterSeconds?: number;
  /** From the moment it is set, every request fails in `mode` for `durationMs`. */
  outage?: { mode: string; durationMs: number };
  /**
   * Mail with one of these categories is refused with a 400, as SendGrid refuses a payload that
   * a bug made invalid (its content block came out empty): the kind of failure that shows only
   * in production, for one kind of mail, and dead-letters it.
   */
  rejectCategories?: string[];
}

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

const STATUS = /^[1-5]\d\d$/;
const OUTAGE_MODES = ['reset', 'hang', 'html-502', '429'];

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

export class FaultsError extends Error {}

/** Checks a Faults object from JSON or flags; throws FaultsError with a clear message. */
export function validateFaults(input: unknown): Faults {
  if (!isPlainObject(input)) throw new FaultsError('faults must be a JSON object');
  const known = [
    'latencyMs',
    'lateAnswerMs',
    'errorRates',
    'htmlErrors',
    'resetRate',
    'hangRate',
    'rateLimitPerSecond',
    'retryAfterSeconds',
    'outage',
    'rejectCategories',
  ];
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) {
      throw new FaultsError(`unknown field "${key}"; known fields: ${known.join(', ')}`);
    }
  }
  const faults: Faults = {};
  const { latencyMs, errorRates, htmlErrors, resetRate, hangRate } = input;
  if (latencyMs !== undefined) {
    if (typeof latencyMs === 'number') {
      faults.latencyMs = nonNegative(latencyMs, 'latencyMs');
    } else if (isPlainObject(latencyMs)) {
      const min = nonNegative(latencyMs.min, 'latencyMs.min');
      const max = nonNegative(latencyMs.max, 'latencyMs.max');
      if (min > max) throw new FaultsError('latencyMs.min must not be greater than latencyMs.max');
      faults.latencyMs = { min, max };
    } else {
      throw new FaultsError('latencyMs must be a number of ms or {"min": ms, "max": ms}');
    }
  }
  if (input.lateAnswerMs !== undefined) {
    faults.lateAnswerMs = nonNegative(input.lateAnswerMs, 'lateAnswerMs');
  }
  let total = 0;
  if (errorRates !== undefined) {
    if (!isPlainObject(errorRates)) {
      throw new FaultsError('errorRates must be an object like {"503": 0.1}');
    }
    faults.errorRates = {};
    for (const [status, rate] of Object.entries(errorRates)) {
      if (!STATUS.test(status) || Number(status) < 400) {
        throw new FaultsError(`errorRates: "${status}" is not an HTTP error status (400-599)`);
      }
      faults.errorRates[status] = fraction(rate, `errorRates.${status}`);
      total += faults.errorRates[status];
    }
  }
  if (htmlErrors !== undefined) {
    if (typeof htmlErrors !== 'boolean') throw new FaultsError('htmlErrors must be true or false');
    faults.htmlErrors = htmlErrors;
  }
  if (resetRate !== undefined) {
    faults.resetRate = fraction(resetRate, 'resetRate');
    total += faults.resetRate;
  }
  if (hangRate !== undefined) {
    faults.hangRate = fraction(hangRate, 'hangRate');
    total += faults.hangRate;
  }
  if (total > 1 + 1e-9) {
    throw new FaultsError(
      `resetRate + hangRate + all errorRates add up to ${round(total)}; at most 1 is possible`,
    );
  }
  if (input.rateLimitPerSecond !== undefined && input.rateLimitPerSecond !== null) {
    const rps = input.rateLimitPerSecond;
    if (typeof rps !== 'number' || !Number.isFinite(rps) || rps <= 0) {
      throw new FaultsError('rateLimitPerSecond must be a number of requests per second > 0');
    }
    faults.rateLimitPerSecond = rps;
  } else if (input.rateLimitPerSecond === null) {
    faults.rateLimitPerSecond = null;
  }
  if (input.retryAfterSeconds !== undefined) {
    const seconds = input.retryAfterSeconds;
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
      throw new FaultsError('retryAfterSeconds must be a whole number of seconds >= 0');
    }
    faults.retryAfterSeconds = seconds;
  }
  if (input.outage !== undefined && input.outage !== null) {
    faults.outage = validateOutage(input.outage);
  }
  if (input.rejectCategories !== undefined) {
    const categories = input.rejectCategories;
    if (
      !Array.isArray(categories) ||
      categories.length > 100 ||
      !categories.every((c) => typeof c === 'string' && c !== '' && c.length <= 255)
    ) {
      throw new FaultsError(
        'rejectCategories must be a list of up to 100 category names, e.g. ["booking"]',
      );
    }
    faults.rejectCategories = [...categories];
  }
  return faults;
}

/** Checks `{mode, durationMs}`; throws FaultsError. */
export function validateOutage(input: unknown): { mode: string; durationMs: number } {
  if (!isPlainObject(input)) {
    throw new FaultsError('outage must be an object like {"mode": "503", "durationMs": 5000}');
  }
  for (const key of Object.keys(input)) {
    if (key !== 'mode' && key !== 'durationMs') {
      throw new FaultsError(`outage: unknown field "${key}"; known fields: mode, durationMs`);
    }
  }
  const { mode, durationMs } = input;
  if (typeof mode !== 'string' || !isOutageMode(mode)) {
    throw new FaultsError(
      `outage.mode must be one of ${OUTAGE_MODES.join(', ')}, an HTTP error status such as 503, or html-<status> such as html-503`,
    );
  }
  if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs <= 0) {
    throw new FaultsError('outage.durationMs must be a number of ms > 0');
  }
  return { mode, durationMs };
}

function isOutageMode(mode: string): boolean {
  if (OUTAGE_MODES.includes(mode)) return true;
  const status = mode.startsWith('html-') ? mode.slice(5) : mode;
  return STATUS.test(status) && Number(status) >= 400;
}

// ---------------------------------------------------------------------------------------------
// Command-line values

/** `--latency-ms 50` or `--latency-ms 10-200`. */
export function parseLatencyFlag(value: string): Faults['latencyMs'] {
  const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  if (/^\d+(?:\.\d+)?$/.test(value)) return Number(value);
  throw new FaultsError(`--latency-ms: "${value}" is not N or MIN-MAX (milliseconds)`);
}

/** `--error-rate 503=0.1` (repeatable). */
export function parseErrorRateFlag(value: string): [string, number] {
  const match = /^(\d{3})=(\d*\.?\d+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    throw new FaultsError(`--error-rate: "${value}" is not STATUS=RATE, e.g. 503=0.1`);
  }
  return [match[1], Number(match[2])];
}

/** `--outage 503:30000`, `--outage reset:5000`, `--outage html-502:10000`. */
export function parseOutageFlag(value: string): { mode: string; durationMs: number } {
  const at = value.lastIndexOf(':');
  const durationText = value.slice(at + 1);
  if (at <= 0 || !/^\d+$/.test(durationText)) {
    throw new FaultsError(`--outage: "${value}" is not MODE:DURATION_MS, e.g. 503:30000`);
  }
  return validateOutage({ mode: value.slice(0, at), durationMs: Number(durationText) });
}

/** A number from a flag; throws FaultsError naming the flag. */
export function parseNumberFlag(value: string, flag: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    throw new FaultsError(`${flag}: "${value}" is not a number`);
  }
  return number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new FaultsError(`${name} must be a number of ms >= 0`);
  }
  return value;
}

function fraction(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new FaultsError(`${name} must be a number between 0 and 1`);
  }
  return value;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
