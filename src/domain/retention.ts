/**
 * How retention (and the expiry of idempotency keys) deletes (ops/cluster-jobs.ts): in
 * transactions sized by the time they take, with a pause after each, so that submissions never
 * wait long behind it. On SQLite a transaction
 * holds the only write lock (and, the driver being synchronous, the API's event loop) from
 * BEGIN to COMMIT: 500 messages with their rows took 170 ms (median; the commit alone ~100 ms,
 * writing the pages of every index the rows were in), and a first round over a large backlog
 * stalled submissions for seconds (measured, docs/benchmarks.md).
 */

import { count } from './count-words.ts';
import { nextBatchSize } from './timed-batch.ts';

/** How long one retention transaction should take, the commit included. */
export const RETENTION_TRANSACTION_MS = 25;
/** The first transaction's size, in messages (or other rows), before any was timed. */
export const RETENTION_FIRST_BATCH = 100;
export const RETENTION_MIN_BATCH = 10;
export const RETENTION_MAX_BATCH = 500;
/**
 * After a transaction that took t ms, retention waits this many times t: it takes at most a
 * third of the time (and of a thread), however slow the database is today.
 */
export const RETENTION_PAUSE_FACTOR = 2;

/**
 * The next transaction's size, from the last one's size and how long it took: the size that
 * would have taken RETENTION_TRANSACTION_MS, at most double and at least half the last one, and
 * within RETENTION_MIN_BATCH and RETENTION_MAX_BATCH.
 */
export function retentionBatchSize(previous?: { size: number; elapsedMs: number }): number {
  if (!previous) return RETENTION_FIRST_BATCH;
  return nextBatchSize(
    previous,
    RETENTION_TRANSACTION_MS,
    RETENTION_MIN_BATCH,
    RETENTION_MAX_BATCH,
  );
}

/** How long to wait after a retention transaction that took `elapsedMs`. */
export function retentionPauseMs(elapsedMs: number): number {
  return Math.max(1, Math.ceil(elapsedMs * RETENTION_PAUSE_FACTOR));
}

/**
 * What a round of retention deleted, by kind: each of what a retention ages out (message
 * retention, the audit log's, the idempotency keys' day), so that its log line leaves nothing it
 * deleted unsaid. A message counts once, with its recipients, categories, metadata, attempts and
 * the delivery events matched to it.
 */
export interface RetentionPruned {
  messages: number;
  /** Delivery events that never matched a message (kept meanwhile for late matching). */
  unmatchedEvents: number;
  statusWebhooks: number;
  /** Entries of the sets of recoveries that ended (the recoveries themselves stay). */
  recoverySetEntries: number;
  /** Events for the SendGrid event relay given up on. */
  failedRelayEvents: number;
  auditEvents: number;
  idempotencyKeys: number;
}

/** A round's counts before it deleted anything. */
export function nothingPruned(): RetentionPruned {
  return {
    messages: 0,
    unmatchedEvents: 0,
    statusWebhooks: 0,
    recoverySetEntries: 0,
    failedRelayEvents: 0,
    auditEvents: 0,
    idempotencyKeys: 0,
  };
}

/** The words for each kind, in the order the log line names them. */
const PRUNED_NOUNS: readonly [keyof RetentionPruned, string, string?][] = [
  ['messages', 'message'],
  ['unmatchedEvents', 'unmatched delivery event'],
  ['statusWebhooks', 'status webhook'],
  ['recoverySetEntries', 'recovery set entry', 'recovery set entries'],
  ['failedRelayEvents', 'failed relay event'],
  ['auditEvents', 'audit event'],
  ['idempotencyKeys', 'idempotency key'],
];

/**
 * What a round of retention deleted, in words, for its log line ("retention pruned 1,200
 * messages, 40 unmatched delivery events and 5 idempotency keys"): each kind it deleted any of,
 * or null when it deleted nothing (nothing is logged then).
 */
export function retentionPrunedText(pruned: RetentionPruned): string | null {
  const kinds = PRUNED_NOUNS.filter(([kind]) => pruned[kind] > 0).map(([kind, one, many]) =>
    count(pruned[kind], one, many),
  );
  const last = kinds.pop();
  if (last === undefined) return null;
  return `retention pruned ${kinds.length > 0 ? `${kinds.join(', ')} and ${last}` : last}`;
}
