import { type Backoff, backoffDelayMs } from './backoff.ts';
import { MAX_REQUESTED_WAIT_MS, type SendResult } from './types.ts';

/**
 * When to try a message again (the delays themselves follow the one backoff rule, backoff.ts).
 *
 * Defaults keep retrying a retryable failure for roughly a day, like SQS redrive windows and
 * Postal's 18 tries: with full jitter the expected gaps are 30 s, 1 min, 2 min, ... up to 1 h
 * (half the 2 h cap), so 30 attempts span about 23 hours on average.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 30,
  baseDelayMs: 60_000,
  maxDelayMs: 2 * 3600_000,
};

/**
 * Exponential backoff with full jitter (backoff.ts): a random delay in
 * [0, min(cap, base * 2^(attempt-1))], so many messages failing together do not come back
 * together. A provider's Retry-After is a floor.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const backoff: Backoff = {
    baseMs: policy.baseDelayMs,
    capMs: policy.maxDelayMs,
    jitter: 'full',
  };
  return Math.max(backoffDelayMs(backoff, attempt, random), requestedWait(retryAfterMs));
}

export type Decision =
  | { kind: 'sent' }
  /** `chargesBudget: false` when the provider, not the message, failed: the attempt is free. */
  | { kind: 'retry'; at: number; reason: string; chargesBudget: boolean }
  | { kind: 'failed'; reason: string };

/**
 * A failure that is the provider's state (an outage, throttling, an account problem) is retried
 * soon and never uses up the message's attempts: the provider's circuit, not each message's
 * backoff, decides when sending resumes, so an outage of any length dead-letters nothing and the
 * backlog drains as soon as the provider recovers. The short jittered delay only spreads out
 * isolated failures while the circuit is still closed: full jitter within 2 s, flat (it is
 * always the first retry, since the attempt does not count).
 */
const PROVIDER_FAULT_BACKOFF: Backoff = { baseMs: 2_000, capMs: 2_000, jitter: 'full' };

function describeFailure(result: SendResult): string {
  const parts = [result.errorClass, result.detail].filter(Boolean);
  return parts.length > 0 ? parts.join(': ') : `${result.outcome} failure`;
}

/** What happens to a message after an attempt (its `attempt`-th) ended with `result`. */
export function decideAfterAttempt(
  policy: RetryPolicy,
  attempt: number,
  result: SendResult,
  now: number,
  random: () => number = Math.random,
  /**
   * For an `unknown` outcome while the provider is otherwise healthy: how long to wait for a
   * delivery event proving the provider took the mail before sending it again. Unset: no wait.
   */
  confirmationWaitMs?: number,
): Decision {
  if (result.outcome === 'accepted') return { kind: 'sent' };
  const reason = describeFailure(result);
  if (result.outcome === 'unknown' && confirmationWaitMs) {
    return {
      kind: 'retry',
      at: now + confirmationWaitMs,
      reason: `${reason}; waiting for a delivery event before sending again`,
      chargesBudget: false,
    };
  }
  if (result.providerFault) {
    const delay = backoffDelayMs(PROVIDER_FAULT_BACKOFF, 1, random);
    return {
      kind: 'retry',
      at: now + Math.max(delay, requestedWait(result.retryAfterMs)),
      reason,
      chargesBudget: false,
    };
  }
  if (result.outcome === 'permanent') return { kind: 'failed', reason };
  if (attempt >= policy.maxAttempts) {
    return { kind: 'failed', reason: `gave up after ${attempt} attempts; last: ${reason}` };
  }
  return {
    kind: 'retry',
    at: now + retryDelayMs(policy, attempt, result.retryAfterMs, random),
    reason,
    chargesBudget: true,
  };
}

/** A provider's requested wait, bounded (MAX_REQUESTED_WAIT_MS; any adapter may have missed it). */
function requestedWait(retryAfterMs: number | undefined): number {
  return Math.min(Math.max(0, retryAfterMs ?? 0), MAX_REQUESTED_WAIT_MS);
}
