/** The fault settings of the SendGrid simulator, and their check (from JSON or from flags). */

/**
 * Fault settings: also the JSON body of `PUT /_simulator/faults`, which replaces all of them (a
 * field left out is cleared), and the fields a `PATCH /_simulator/faults` merges in.
 */
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
  /**
   * Mail from these senders (an address, or `@domain` for all of a domain) is refused with
   * SendGrid's 403 for a sender that is not a verified Sender Identity, while other mail goes
   * through: one application's misconfigured `from`.
   */
  unverifiedSenders?: string[];
}

const STATUS = /^[1-5]\d\d$/;
const OUTAGE_MODES = ['reset', 'hang', 'html-502', '429'];

/** The fields of `Faults`, in the order the unknown-field message lists them. */
const FAULT_FIELDS: readonly (keyof Faults)[] = [
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
  'unverifiedSenders',
];

export class FaultsError extends Error {}

/** Throws FaultsError for a field that `Faults` does not have. */
export function checkFieldNames(input: Record<string, unknown>): void {
  for (const key of Object.keys(input)) {
    if (!(FAULT_FIELDS as readonly string[]).includes(key)) {
      throw new FaultsError(`unknown field "${key}"; known fields: ${FAULT_FIELDS.join(', ')}`);
    }
  }
}

/** Throws FaultsError unless `status` is an HTTP error status, as the keys of `errorRates` are. */
export function checkErrorStatus(status: string): void {
  if (!STATUS.test(status) || Number(status) < 400) {
    throw new FaultsError(`errorRates: "${status}" is not an HTTP error status (400-599)`);
  }
}

/** Checks a Faults object from JSON or flags; throws FaultsError with a clear message. */
export function validateFaults(input: unknown): Faults {
  if (!isPlainObject(input)) throw new FaultsError('faults must be a JSON object');
  checkFieldNames(input);
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
      checkErrorStatus(status);
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
  if (input.unverifiedSenders !== undefined) {
    const senders = input.unverifiedSenders;
    if (
      !Array.isArray(senders) ||
      senders.length > 100 ||
      !senders.every((s) => typeof s === 'string' && /^[^@\s]*@[^@\s]+$/.test(s) && s.length <= 320)
    ) {
      throw new FaultsError(
        'unverifiedSenders must be a list of up to 100 addresses or @domains, e.g. ["@other.example"]',
      );
    }
    faults.unverifiedSenders = senders.map((s) => s.toLowerCase());
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

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Node's timers hold at most 2^31 - 1 ms (~24.8 days); a longer one would fire at once. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new FaultsError(`${name} must be a number of ms >= 0`);
  }
  if (value > LONGEST_TIMER_MS) {
    throw new FaultsError(`${name} must be at most ${LONGEST_TIMER_MS} ms (about 24.8 days)`);
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
