import type { MessageStatus } from '../types.ts';

/**
 * The unsent view: every message a provider has not taken yet, or took without confirming it,
 * each with the reason it is unsent. The reasons, checked in this order:
 *
 * | reason            | the message                                                              |
 * | ----------------- | ------------------------------------------------------------------------ |
 * | `failed`          | is dead-lettered (status `failed`)                                       |
 * | `unconfirmed`     | was accepted (`sent`), longer than TEGAMI_UNCONFIRMED_AFTER_S ago, and no |
 * |                   | delivery event has come for it (looked for in the last 48 hours; only    |
 * |                   | when the Event Webhook is configured)                                    |
 * | `requeued`        | was requeued by an operator (a recovery or a retry of a dead letter) and  |
 * |                   | its next attempt has not finished yet; its error class is still that of   |
 * |                   | the attempt before                                                        |
 * | `unknown_outcome` | is waiting after a send whose answer never came: the provider may have it |
 * | `held`            | was held back by the provider's state (unavailable, throttled, paused)   |
 * | `retrying`        | failed an attempt and waits for the next one                             |
 * | `waiting`         | was never tried and has been due longer than TEGAMI_UNSENT_AFTER_S        |
 *
 * Messages due less than TEGAMI_UNSENT_AFTER_S ago and never tried are normal traffic, not
 * unsent mail; scheduled messages count once their time has passed by that much.
 */
export const UNSENT_REASONS = [
  'waiting',
  'requeued',
  'retrying',
  'held',
  'unknown_outcome',
  'failed',
  'unconfirmed',
] as const;
export type UnsentReason = (typeof UNSENT_REASONS)[number];

/**
 * When a message became due: at its `send_at` if that is later than its creation, else at its
 * creation. A retried message's next_attempt_at is its next try, not when it became due, so the
 * delivery_delay alert and the unsent summary's oldest mail both count from this.
 * `messageDueSince` in store/messages/columns.ts is the same rule in SQL.
 */
export function dueSince(createdAt: number, sendAt: number | null): number {
  return sendAt !== null && sendAt > createdAt ? sendAt : createdAt;
}

/** How long after "accepted" a confirmation (a delivery event) is looked for. */
export const UNCONFIRMED_LOOKBACK_MS = 48 * 3600_000;

/**
 * What a requeue (a recovery's retry, or a retry of one message) writes as a message's
 * `last_outcome`, until its next attempt writes that attempt's outcome. The error class, the
 * provider and the attempts stay as they were: a dead letter requeued after a fix must not read
 * as `retrying` with the error it failed with, as if the fix had not worked.
 */
export const REQUEUED_OUTCOME = 'requeued';

/** The facts of a message that its reason depends on. */
export interface UnsentFacts {
  status: MessageStatus;
  /**
   * The last attempt's outcome (REQUEUED_OUTCOME once an operator requeued it, until its next
   * attempt); null before the first attempt.
   */
  lastOutcome: string | null;
  lastProviderFault: string | null;
}

/**
 * The reason of a message that is in the unsent view (the store selects the set with the same
 * rules; see store/unsent-conditions.ts).
 */
export function unsentReason(facts: UnsentFacts): UnsentReason {
  if (facts.status === 'failed') return 'failed';
  if (facts.status === 'sent') return 'unconfirmed';
  if (facts.lastOutcome === REQUEUED_OUTCOME) return 'requeued';
  if (facts.lastOutcome === 'unknown') return 'unknown_outcome';
  if (facts.lastProviderFault) return 'held';
  if (facts.lastOutcome) return 'retrying';
  return 'waiting';
}

/** Whether a message is in the unsent view (its reason is then `unsentReason`). */
export function isUnsent(
  m: UnsentFacts & {
    nextAttemptAt: number | null;
    sentAt: number | null;
    confirmedAt: number | null;
  },
  window: UnsentWindow,
): boolean {
  switch (m.status) {
    case 'failed':
      return true;
    case 'cancelled':
      return false;
    case 'sent':
      return (
        window.unconfirmedBefore !== null &&
        m.confirmedAt === null &&
        m.sentAt !== null &&
        m.sentAt < window.unconfirmedBefore &&
        m.sentAt >= window.unconfirmedSince
      );
    default:
      // Tried (or requeued) and not finished: requeued, retrying, held or waiting for proof (a
      // scheduled message is never tried). Never tried: unsent once it has been due for a while.
      if (m.lastOutcome !== null) return m.status === 'queued' || m.status === 'sending';
      return m.nextAttemptAt !== null && m.nextAttemptAt < window.waitingBefore;
  }
}

/** The times that decide membership, computed once per request from `now`. */
export interface UnsentWindow {
  /** Never tried, and due before this: `waiting`. */
  waitingBefore: number;
  /**
   * Sent before this with no delivery event: `unconfirmed`... Null when delivery events cannot
   * arrive (no Event Webhook): then nothing could ever be confirmed, and listing every sent
   * message would bury the mail that needs an operator.
   */
  unconfirmedBefore: number | null;
  /** ...if sent at or after this. */
  unconfirmedSince: number;
}

export function unsentWindow(
  now: number,
  options: { unsentAfterMs: number; unconfirmedAfterMs: number | null },
): UnsentWindow {
  return {
    waitingBefore: now - options.unsentAfterMs,
    unconfirmedBefore:
      options.unconfirmedAfterMs === null ? null : now - options.unconfirmedAfterMs,
    unconfirmedSince: now - UNCONFIRMED_LOOKBACK_MS,
  };
}
