import { type Kysely, sql } from 'kysely';
import type { Completion, DeliveryStore } from '../domain/ports.ts';
import type { ClaimedMessage } from '../domain/types.ts';
import { claimDueMessages } from './claim-due-messages.ts';
import { CommitGroup } from './commit-group.ts';
import type { DatabaseHandle } from './database.ts';
import { chunks, insertChunked } from './insert-chunked.ts';
import type { AttemptTable, Database } from './schema.ts';
import { setRecipientStatus } from './sql-message-store.ts';

/** Claiming due messages and recording what happened to them, for the delivery worker. */
export class SqlDeliveryStore implements DeliveryStore {
  private readonly completions: CommitGroup<Completion, undefined>;

  constructor(private readonly handle: DatabaseHandle) {
    this.completions = new CommitGroup(
      async (group) => {
        await handle.writeTransaction((trx) => writeCompletions(trx, group));
        return group.map(() => undefined);
      },
      1000,
      handle.writeConcurrency,
    );
  }

  claimDue(owner: string, limit: number, leaseMs: number, now: number): Promise<ClaimedMessage[]> {
    return this.handle.writeTransaction((trx) =>
      claimDueMessages(trx, this.handle.engine, owner, limit, leaseMs, now),
    );
  }

  complete(completion: Completion): Promise<void> {
    return this.completions.add(completion);
  }

  flushed(): Promise<void> {
    return this.completions.flushed();
  }

  async activeLeaseOwners(now: number): Promise<string[]> {
    const rows = await this.handle.db
      .selectFrom('messages')
      .select('lease_owner')
      .distinct()
      .where('status', '=', 'sending')
      .where('lease_expires_at', '>', now)
      .execute();
    return rows.flatMap((r) => (r.lease_owner ? [r.lease_owner] : []));
  }

  async releaseLeases(owner: string, now: number): Promise<number> {
    const result = await this.handle.db
      .updateTable('messages')
      .set({ next_attempt_at: now, lease_expires_at: now, updated_at: now })
      .where('status', '=', 'sending')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}

/**
 * One transaction for a group of finished attempts: every attempt row, then each message's new
 * status. A status change applies only while the worker still holds the lease, so a worker that
 * was presumed dead cannot overwrite what its successor recorded.
 */
async function writeCompletions(trx: Kysely<Database>, group: Completion[]): Promise<void> {
  const attempts: AttemptTable[] = group.map(({ messageId, attempt }) => ({
    message_id: messageId,
    number: attempt.number,
    provider: attempt.provider,
    started_at: attempt.startedAt,
    duration_ms: attempt.durationMs,
    outcome: attempt.outcome,
    http_status: attempt.httpStatus,
    provider_message_id: attempt.providerMessageId,
    error_class: attempt.errorClass,
    detail: attempt.detail,
    response_excerpt: attempt.responseExcerpt,
    provider_fault: attempt.providerFault,
    provider_errors: attempt.providerErrors ? JSON.stringify(attempt.providerErrors) : null,
    rate_limit: attempt.rateLimit ? JSON.stringify(attempt.rateLimit) : null,
    network_error: attempt.networkError,
  }));
  await insertChunked(trx, 'attempts', attempts);

  const sentByOwner = new Map<string, Completion[]>();
  for (const completion of group) {
    const { decision, messageId, leaseOwner, now } = completion;
    if (decision.kind === 'sent') {
      sentByOwner.set(leaseOwner, [...(sentByOwner.get(leaseOwner) ?? []), completion]);
    } else if (decision.kind === 'retry') {
      await trx
        .updateTable('messages')
        .set({
          status: 'queued',
          next_attempt_at: decision.at,
          // A free attempt (the provider failed, not the message) moves the budget's start along.
          ...(decision.chargesBudget
            ? {}
            : { attempts_before_retry: sql<number>`attempts_before_retry + 1` }),
          lease_owner: null,
          lease_expires_at: null,
          last_error: decision.reason,
          updated_at: now,
        })
        .where('id', '=', messageId)
        .where('lease_owner', '=', leaseOwner)
        .execute();
    } else {
      const updated = await trx
        .updateTable('messages')
        .set({
          status: 'failed',
          next_attempt_at: null,
          lease_owner: null,
          lease_expires_at: null,
          last_error: decision.reason,
          updated_at: now,
        })
        .where('id', '=', messageId)
        .where('lease_owner', '=', leaseOwner)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) > 0) {
        await setRecipientStatus(trx, [messageId], 'failed', now);
      }
    }
  }

  for (const [owner, completions] of sentByOwner) {
    const now = completions[0]?.now ?? Date.now();
    for (const part of chunks(completions.map((c) => c.messageId))) {
      const updated = await trx
        .updateTable('messages')
        .set({
          status: 'sent',
          sent_at: now,
          next_attempt_at: null,
          lease_owner: null,
          lease_expires_at: null,
          last_error: null,
          updated_at: now,
        })
        .where('id', 'in', part)
        .where('lease_owner', '=', owner)
        .returning('id')
        .execute();
      await setRecipientStatus(
        trx,
        updated.map((r) => r.id),
        'sent',
        now,
      );
    }
  }
}
