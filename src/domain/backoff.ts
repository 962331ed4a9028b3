/**
 * The one backoff rule: exponential backoff with jitter (AWS Architecture Blog, "Exponential
 * Backoff and Jitter"). The delay's ceiling doubles per attempt from `baseMs` up to `capMs`:
 * min(cap, base × 2^(attempt−1)); the jitter picks the delay under that ceiling.
 *
 * Two jitter styles stay, because their callers want different things:
 *
 * - `full`:  random in [0, ceiling). Messages (retry-policy.ts): the widest spread, so messages
 *            that failed together do not come back together; an early retry costs one send of
 *            one message, and the provider's circuit, not this delay, protects a provider that
 *            is down.
 * - `equal`: half fixed, half random, [ceiling/2, ceiling]. Status webhooks: a receiver that
 *            just failed is never posted to again at once (its endpoint has no circuit), and the
 *            random half still spreads a burst of failures.
 *
 * The provider circuit's probe and pause intervals (provider-circuit.ts) are not backoff: they are
 * a fixed cadence, one probe per interval, so a recovery is noticed within one interval however
 * long the outage lasted.
 */
type Jitter = 'full' | 'equal';

export interface Backoff {
  /** The ceiling of the first retry's delay; it doubles per attempt. */
  baseMs: number;
  /** The ceiling never grows past this. */
  capMs: number;
  jitter: Jitter;
}

/** 2^40 times even a 1 ms base is 35 years, past any cap: the doubling stops there. */
const MAX_EXPONENT = 40;

/** The delay before the retry that follows failed attempt number `attempt` (1 = the first). */
export function backoffDelayMs(
  backoff: Backoff,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), MAX_EXPONENT);
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** exponent);
  if (backoff.jitter === 'full') return Math.floor(random() * ceiling);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
