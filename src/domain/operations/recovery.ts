import { nextBatchSize } from '../timed-batch.ts';
import { type MessageStatus, SUPPRESSED_ERROR_CLASS } from '../types.ts';
import { type AuditEvent, newAuditEvent } from './audit-event.ts';
import type { Actor } from './scope.ts';

/**
 * Bulk recovery: retry or cancel every message of a filter, as one job an operator can dry-run,
 * watch and stop. The rules are the single-message ones (`POST /v1/messages/{id}/retry` and
 * `/cancel`), so a message is treated the same whether it was clicked, typed or scripted:
 *
 * - retry:  a `failed` message goes back to `queued`, due at once, with a fresh retry budget;
 *           attempt numbers keep counting.
 * - cancel: a `queued` or `scheduled` message becomes `cancelled`.
 *
 * The set is fixed when the recovery starts (its message ids are stored), so mail that fails
 * later is not swept in. A message in the set that the action does not apply to any more is
 * skipped, with the reason. A message waits in at most one running recovery: a second recovery
 * over the same mail skips it (`in_other_recovery`), so nothing is acted on twice.
 */
export const RECOVERY_ACTIONS = ['retry', 'cancel'] as const;
export type RecoveryAction = (typeof RECOVERY_ACTIONS)[number];

export const RECOVERY_STATES = ['running', 'done', 'cancelled', 'failed'] as const;
export type RecoveryState = (typeof RECOVERY_STATES)[number];

/** The statuses each action applies to. */
export const ACTION_APPLIES_TO: Record<RecoveryAction, readonly MessageStatus[]> = {
  retry: ['failed'],
  cancel: ['queued', 'scheduled'],
};

/**
 * Of a dry run's matched messages, how many a retry fails again at once: they failed because
 * every recipient is suppressed, and while the suppressions hold such mail never reaches a
 * provider. The console, the CLI and the API warn of them.
 */
export function failingAgainAtOnce(
  action: RecoveryAction,
  byErrorClass: ReadonlyMap<string | null, number>,
): number {
  return action === 'retry' ? (byErrorClass.get(SUPPRESSED_ERROR_CLASS) ?? 0) : 0;
}

export const SKIP_REASONS = [
  'already_sent',
  'cancelled',
  'in_other_recovery',
  'not_failed',
  'not_cancellable',
  'not_found',
  'recovery_cancelled',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Why `action` skips a message now in `status` (null: the message no longer exists). */
export function skipReason(action: RecoveryAction, status: MessageStatus | null): SkipReason {
  if (status === null) return 'not_found';
  if (status === 'sent') return 'already_sent';
  if (status === 'cancelled') return 'cancelled';
  return action === 'retry' ? 'not_failed' : 'not_cancellable';
}

/**
 * Messages in a recovery's first chunk, and in every chunk of a paced one (at most). A chunk is
 * one transaction; on SQLite it holds the database's only write lock while it runs.
 */
export const RECOVERY_CHUNK = 1000;
/**
 * The largest chunk of an unpaced recovery. Bounded also by SQLite's 32,766 parameters per
 * statement: the messages a chunk skips are looked up with one parameter per id.
 */
export const RECOVERY_CHUNK_MAX = 20_000;
/**
 * How long an unpaced chunk should take: long enough that the per-transaction costs (commit,
 * WAL checkpoint, index pages shared by many messages) spread over many messages, short enough
 * not to hold up submissions for long. At 1,000,000 messages on SQLite a chunk of 1,000 spent
 * two thirds of its time committing; chunks of 5,000 wrote a third fewer pages per message.
 */
export const RECOVERY_CHUNK_TARGET_MS = 1000;
/** Messages shown in a dry run's sample. */
export const DRY_RUN_SAMPLE = 20;
export const MAX_RATE_PER_S = 100_000;

/**
 * Messages in the next chunk. A paced recovery moves one second's worth at a time. An unpaced
 * one starts at RECOVERY_CHUNK and adapts to the time the previous chunk took: toward the size
 * that takes RECOVERY_CHUNK_TARGET_MS, at most doubling or halving from one chunk to the next
 * (one slow chunk on a busy machine does not collapse it), never below RECOVERY_CHUNK.
 */
export function chunkSize(
  ratePerS: number | null,
  previous?: { size: number; elapsedMs: number },
): number {
  if (ratePerS !== null) return Math.max(1, Math.min(RECOVERY_CHUNK, ratePerS));
  if (!previous) return RECOVERY_CHUNK;
  return nextBatchSize(previous, RECOVERY_CHUNK_TARGET_MS, RECOVERY_CHUNK, RECOVERY_CHUNK_MAX);
}

/** How long to wait after a chunk of `size` that took `elapsedMs`, to keep to `ratePerS`. */
export function pauseAfterChunk(ratePerS: number | null, size: number, elapsedMs: number): number {
  if (ratePerS === null) return 0;
  return Math.max(0, Math.ceil((size * 1000) / ratePerS - elapsedMs));
}

export interface RecoveryRecord {
  id: string;
  /** The unit it is confined to; null: every unit. */
  unitId: string | null;
  action: RecoveryAction;
  filter: Record<string, unknown>;
  ratePerS: number | null;
  state: RecoveryState;
  matched: number;
  done: number;
  skipped: number;
  skippedReasons: Partial<Record<SkipReason, number>>;
  actor: Actor;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  error: string | null;
}

/**
 * The audit event of a recovery's end, under the name of whoever started it, with what it did:
 * written in the transaction that ends it (its last chunk, a cancel, or a failure).
 */
export function recoveryFinishEvent(record: RecoveryRecord, now: number): AuditEvent {
  return newAuditEvent(
    record.actor,
    'recovery.finish',
    {
      unitId: record.unitId,
      target: record.id,
      counts: {
        matched: record.matched,
        done: record.done,
        skipped: record.skipped,
        ...record.skippedReasons,
      },
    },
    now,
  );
}

/**
 * What became of the messages a retry recovery requeued (`done`), by their status now: `sent`,
 * `failed` again, still `waiting` (queued, scheduled or being sent), `cancelled` since, and
 * `movedOn`: requeued again by a later recovery, which counts them from then on (a message counts
 * toward the last recovery that requeued it), or no longer stored (retention). The five add up to
 * `done`.
 */
export interface RecoveryOutcome {
  sent: number;
  failed: number;
  waiting: number;
  cancelled: number;
  movedOn: number;
}

/** The outcome of a recovery that requeued `done` messages, `statuses` of which it still counts. */
export function recoveryOutcome(
  done: number,
  statuses: ReadonlyMap<MessageStatus, number>,
): RecoveryOutcome {
  const n = (...of: MessageStatus[]) => of.reduce((sum, s) => sum + (statuses.get(s) ?? 0), 0);
  const outcome = {
    sent: n('sent'),
    failed: n('failed'),
    waiting: n('queued', 'scheduled', 'sending'),
    cancelled: n('cancelled'),
  };
  const counted = outcome.sent + outcome.failed + outcome.waiting + outcome.cancelled;
  return { ...outcome, movedOn: Math.max(0, done - counted) };
}
