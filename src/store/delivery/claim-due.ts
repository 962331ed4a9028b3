import { type Kysely, sql } from 'kysely';
import type { ClaimedMessage, MessageContent } from '../../domain/types.ts';
import type { DatabaseHandle, Dialect } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { applySuppressions } from './apply-suppressions.ts';

/**
 * Claims due messages and looks up their recipients on the suppression list, in the same
 * transaction (one query for the whole batch). A message with nothing left to send is finished
 * here as `failed`, without a provider call or an attempt, and is not handed to the worker.
 */
export function claimDue(
  handle: DatabaseHandle,
  owner: string,
  limit: number,
  leaseMs: number,
  now: number,
): Promise<ClaimedMessage[]> {
  return handle.writeTransaction(async (trx) => {
    const claimed = await claimDueMessages(trx, handle.dialect, owner, limit, leaseMs, now);
    if (claimed.length === 0) return claimed;
    return applySuppressions(trx, handle, claimed, now);
  });
}

/**
 * Leases up to `limit` due messages in one statement. The lease expiry is written into
 * `next_attempt_at` at claim time, so a message whose worker died becomes due again by itself.
 *
 * The status list is a literal, not bound parameters: SQLite uses the partial index
 * `messages_due` only when the query's terms match the index's WHERE clause textually.
 */
async function claimDueMessages(
  db: Kysely<Database>,
  dialect: Dialect,
  owner: string,
  limit: number,
  leaseMs: number,
  now: number,
): Promise<ClaimedMessage[]> {
  // PostgreSQL: workers claiming at the same time skip each other's rows instead of waiting for
  // them (or claiming them twice). SQLite serialises writers anyway and has no such clause.
  const due = dialect.skipLocked(
    db
      .selectFrom('messages')
      .select('id')
      .where(sql<boolean>`status in ('queued', 'scheduled', 'sending')`)
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(limit),
  );
  const leaseExpiresAt = now + leaseMs;
  const rows = await db
    .updateTable('messages')
    .set({
      status: 'sending',
      lease_owner: owner,
      lease_expires_at: leaseExpiresAt,
      next_attempt_at: leaseExpiresAt,
      attempt_count: sql<number>`attempt_count + 1`,
      updated_at: now,
    })
    .where('id', 'in', due)
    .returning(['id', 'unit_id', 'attempt_count', 'attempts_before_retry', 'content'])
    .execute();
  return rows.map((row) => ({
    id: row.id,
    unitId: row.unit_id,
    attemptCount: row.attempt_count,
    attemptsThisRound: row.attempt_count - row.attempts_before_retry,
    leaseOwner: owner,
    content: JSON.parse(row.content) as MessageContent,
    suppressed: [],
  }));
}
