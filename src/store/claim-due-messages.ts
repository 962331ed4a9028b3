import { type Kysely, sql } from 'kysely';
import type { ClaimedMessage, MessageContent } from '../domain/types.ts';
import type { Dialect } from './engine/database.ts';
import type { Database } from './schema.ts';

/**
 * Leases up to `limit` due messages in one statement. The lease expiry is written into
 * `next_attempt_at` at claim time, so a message whose worker died becomes due again by itself.
 *
 * The status list is a literal, not bound parameters: SQLite uses the partial index
 * `messages_due` only when the query's terms match the index's WHERE clause textually.
 */
export async function claimDueMessages(
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
    .returning(['id', 'attempt_count', 'attempts_before_retry', 'content'])
    .execute();
  return rows.map((row) => ({
    id: row.id,
    attemptCount: row.attempt_count,
    attemptsThisRound: row.attempt_count - row.attempts_before_retry,
    leaseOwner: owner,
    content: JSON.parse(row.content) as MessageContent,
    suppressed: [],
  }));
}
