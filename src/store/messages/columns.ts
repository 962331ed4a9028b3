import { sql } from 'kysely';
import type { Attempt } from '../../domain/types.ts';

/** Columns of `messages` that several writes set the same way. */

/** A message's columns once the provider has it: sent, no longer due, no lease, no error. */
export function sentColumns(now: number) {
  return {
    status: 'sent',
    sent_at: now,
    next_attempt_at: null,
    lease_owner: null,
    lease_expires_at: null,
    last_error: null,
    updated_at: now,
  } as const;
}

/**
 * The last attempt's facts, copied onto its message when the attempt is recorded, so that
 * filters (`provider`, `error_class`) and the unsent view read the message row alone (and its
 * partial index) instead of joining every attempt.
 */
export function lastAttemptColumns(
  attempt: Pick<Attempt, 'provider' | 'errorClass' | 'outcome' | 'providerFault'>,
) {
  return {
    last_provider: attempt.provider,
    last_error_class: attempt.errorClass,
    last_outcome: attempt.outcome,
    last_provider_fault: attempt.providerFault,
  };
}

/** The same for an accepted attempt. */
export function acceptedAttemptColumns(provider: string | null) {
  return {
    last_provider: provider,
    last_error_class: null,
    last_outcome: 'accepted',
    last_provider_fault: null,
  };
}

/** When a message became due, in SQL: the domain's `dueSince` (domain/operations/unsent.ts). */
export const messageDueSince = sql<number>`case when messages.send_at is not null and messages.send_at > messages.created_at then messages.send_at else messages.created_at end`;
