import { type Kysely, sql } from 'kysely';
import type { ClaimRequest } from '../../domain/ports/delivery-store.ts';
import { PRIORITY_RANK, type Priority, priorityOfRank } from '../../domain/priority.ts';
import type { ClaimedMessage, MessageContent } from '../../domain/types.ts';
import type { DatabaseHandle, Dialect } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { applySuppressions } from './apply-suppressions.ts';

/**
 * Claims due messages and looks up their recipients on the suppression list, in the same
 * transaction (one query for the whole batch). A message with nothing left to send is finished
 * here as `failed`, without a provider call or an attempt, and is not handed to the worker.
 */
export function claimDue(handle: DatabaseHandle, request: ClaimRequest): Promise<ClaimedMessage[]> {
  const { owner, limit, bulkSlots = 0, leaseMs, now } = request;
  return handle.writeTransaction(async (trx) => {
    const claimed = await claimDueMessages(
      trx,
      handle.dialect,
      owner,
      limit,
      Math.min(bulkSlots, limit),
      leaseMs,
      now,
    );
    if (claimed.length === 0) return claimed;
    return applySuppressions(trx, handle, claimed, now);
  });
}

/**
 * Leases up to `limit` due messages in one statement, by priority (domain/priority.ts): the
 * first `bulkSlots` due bulk messages, then high and normal mail in that order, then more bulk
 * mail to fill what is left. Within a priority, the message due longest goes first. The lease
 * expiry is written into `next_attempt_at` at claim time, so a message whose worker died becomes
 * due again by itself.
 *
 * Each priority is read in due order from the partial index `messages_claim` (priority,
 * next_attempt_at), one range per priority, so scheduled mail far ahead is never scanned. The
 * status list is a literal, not bound parameters: SQLite uses a partial index only when the
 * query's terms match the index's WHERE clause textually.
 */
async function claimDueMessages(
  db: Kysely<Database>,
  dialect: Dialect,
  owner: string,
  limit: number,
  bulkSlots: number,
  leaseMs: number,
  now: number,
): Promise<ClaimedMessage[]> {
  // PostgreSQL: workers claiming at the same time skip each other's rows instead of waiting for
  // them (or claiming them twice). SQLite serialises writers anyway and has no such clause.
  const dueOf = (priority: Priority) =>
    dialect.skipLocked(
      db
        .selectFrom(dialect.throughIndex('messages', 'messages_claim'))
        .select(['id', 'next_attempt_at', sql.lit(PRIORITY_RANK[priority]).as('rank')])
        .where(sql<boolean>`status in ('queued', 'scheduled', 'sending')`)
        // A `sending` row here has a lease that ran out: its worker stopped without a result.
        // The lease sweep (leases.ts) records that and lets it wait for proof, as for a worker
        // known dead, instead of sending it again at once.
        .where('status', '<>', sql.lit('sending'))
        .where('priority', '=', sql.lit(PRIORITY_RANK[priority]))
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(limit),
    );
  const leaseExpiresAt = now + leaseMs;
  const rows = await db
    .with('due_high', () => dueOf('high'))
    .with('due_normal', () => dueOf('normal'))
    .with('due_bulk', () => dueOf('bulk'))
    // Tier 0: bulk mail's reserved share; 1: high, then normal; 2: bulk mail filling the rest.
    .with('candidates', (qb) =>
      qb
        .selectFrom('due_high')
        .select(['id', sql.lit(1).as('tier'), 'rank', 'next_attempt_at'])
        .unionAll(
          qb
            .selectFrom('due_normal')
            .select(['id', sql.lit(1).as('tier'), 'rank', 'next_attempt_at']),
        )
        .unionAll(
          qb
            .selectFrom('due_bulk')
            .select([
              'id',
              sql<number>`case when row_number() over (order by next_attempt_at) <= ${sql.lit(bulkSlots)} then 0 else 2 end`.as(
                'tier',
              ),
              'rank',
              'next_attempt_at',
            ]),
        ),
    )
    .updateTable('messages')
    .set({
      status: 'sending',
      lease_owner: owner,
      lease_expires_at: leaseExpiresAt,
      next_attempt_at: leaseExpiresAt,
      attempt_count: sql<number>`attempt_count + 1`,
      updated_at: now,
    })
    // Checked again on the row itself: on PostgreSQL a row another worker claimed after this
    // statement's snapshot is re-read before it is updated, and must then not be taken twice.
    .where(sql<boolean>`status in ('queued', 'scheduled', 'sending')`)
    .where('next_attempt_at', '<=', now)
    .where('id', 'in', (qb) =>
      qb
        .selectFrom('candidates')
        .select('id')
        .orderBy('tier')
        .orderBy('rank')
        .orderBy('next_attempt_at')
        .limit(limit),
    )
    .returning(['id', 'unit_id', 'attempt_count', 'attempts_before_retry', 'content', 'priority'])
    .execute();
  return rows.map((row) => ({
    id: row.id,
    unitId: row.unit_id,
    priority: priorityOfRank(Number(row.priority)),
    attemptCount: row.attempt_count,
    attemptsThisRound: row.attempt_count - row.attempts_before_retry,
    leaseOwner: owner,
    content: JSON.parse(row.content) as MessageContent,
    suppressed: [],
  }));
}
