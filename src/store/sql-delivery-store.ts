import { type Kysely, sql } from 'kysely';
import type { Completion, DeliveryStore } from '../domain/ports/delivery-store.ts';
import { statusWebhooksForMessage, type WebhookEvent } from '../domain/status-webhooks.ts';
import {
  describeSuppressed,
  type SuppressedRecipient,
  withoutSuppressed,
} from '../domain/suppression.ts';
import type { ClaimedMessage } from '../domain/types.ts';
import { claimDueMessages } from './claim-due-messages.ts';
import type { DatabaseHandle } from './engine/database.ts';
import { acceptedAttemptColumns, lastAttemptColumns } from './last-attempt-columns.ts';
import { confirmFromRecordedEvents } from './reconcile-unknown.ts';
import type { AttemptTable, Database } from './schema.ts';
import { sentColumns, setRecipientStatus } from './sql-message-store.ts';
import { findSuppressed, markSuppressed } from './sql-suppression-store.ts';
import { enqueueWebhookEvents } from './sql-webhook-store.ts';
import { CommitGroup } from './write/commit-group.ts';
import { chunks } from './write/insert-rows.ts';

/** Claiming due messages and recording what happened to them, for the delivery worker. */
export class SqlDeliveryStore implements DeliveryStore {
  private readonly completions: CommitGroup<Completion, undefined>;

  constructor(private readonly handle: DatabaseHandle) {
    this.completions = new CommitGroup(
      async (group) => {
        await handle.writeTransaction((trx) => writeCompletions(trx, handle, group));
        return group.map(() => undefined);
      },
      1000,
      handle.writeConcurrency,
    );
  }

  /**
   * Claims due messages and looks up their recipients on the suppression list, in the same
   * transaction (one query for the whole batch). A message with nothing left to send is finished
   * here as `failed`, without a provider call or an attempt, and is not handed to the worker.
   */
  claimDue(owner: string, limit: number, leaseMs: number, now: number): Promise<ClaimedMessage[]> {
    return this.handle.writeTransaction(async (trx) => {
      const claimed = await claimDueMessages(trx, this.handle.dialect, owner, limit, leaseMs, now);
      if (claimed.length === 0) return claimed;
      return applySuppressions(trx, this.handle, claimed, now);
    });
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
async function writeCompletions(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  group: Completion[],
): Promise<void> {
  const webhooks: WebhookEvent[] = [];
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
  await handle.dialect.insertRows(trx, 'attempts', attempts);

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
          ...lastAttemptColumns(completion.attempt),
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
          failed_at: now,
          ...lastAttemptColumns(completion.attempt),
        })
        .where('id', '=', messageId)
        .where('lease_owner', '=', leaseOwner)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) > 0) {
        await setRecipientStatus(trx, [messageId], 'failed', now);
        if (completion.suppressed?.length)
          await markSuppressed(trx, messageId, completion.suppressed, now);
        webhooks.push(...statusWebhooksForMessage(messageId, 'failed'));
      }
    }
  }

  for (const [owner, completions] of sentByOwner) {
    const now = completions[0]?.now ?? Date.now();
    for (const part of chunks(completions.map((c) => c.messageId))) {
      const updated = await trx
        .updateTable('messages')
        .set({
          ...sentColumns(now),
          // One worker, one provider: every completion of this owner names the same one.
          ...acceptedAttemptColumns(completions[0]?.attempt.provider ?? null),
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
      for (const r of updated) webhooks.push(...statusWebhooksForMessage(r.id, 'sent'));
      const applied = new Set(updated.map((r) => r.id));
      for (const c of completions) {
        if (c.suppressed?.length && applied.has(c.messageId))
          await markSuppressed(trx, c.messageId, c.suppressed, now);
      }
    }
  }
  await enqueueWebhookEvents(trx, handle, webhooks, group[0]?.now ?? Date.now());

  // Timed-out sends now waiting for proof: the proof may already be here.
  const waiting = group
    .filter((c) => c.attempt.outcome === 'unknown' && c.decision.kind === 'retry')
    .map((c) => c.messageId);
  await confirmFromRecordedEvents(trx, handle, waiting, group[0]?.now ?? Date.now());
}

/**
 * Takes suppressed recipients out of claimed messages. Messages with someone left to send to go
 * to the worker with their `suppressed` list; the others are dead-lettered at once: status
 * `failed`, `last_error` naming each address and its reason, suppressed recipients `suppressed`.
 * No attempt is recorded for them (the provider was not called), and the claim's increment of
 * `attempt_count` is undone, so `attempt_count` still counts provider calls.
 */
async function applySuppressions(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  claimed: ClaimedMessage[],
  now: number,
): Promise<ClaimedMessage[]> {
  const emails = new Set<string>();
  for (const m of claimed) {
    for (const a of [...m.content.to, ...m.content.cc, ...m.content.bcc])
      emails.add(a.email.toLowerCase());
  }
  const suppressions = await findSuppressed(trx, [...emails]);
  if (suppressions.size === 0) return claimed;
  const toSend: ClaimedMessage[] = [];
  const webhooks: WebhookEvent[] = [];
  for (const message of claimed) {
    const { to, cc, bcc } = message.content;
    const suppressed: SuppressedRecipient[] = [];
    for (const a of [...to, ...cc, ...bcc]) {
      const email = a.email.toLowerCase();
      const reason = suppressions.get(email);
      if (reason) suppressed.push({ email, reason });
    }
    if (suppressed.length === 0) {
      toSend.push(message);
      continue;
    }
    if (withoutSuppressed(message.content, suppressed)) {
      toSend.push({ ...message, suppressed });
      continue;
    }
    const all = suppressed.length === to.length + cc.length + bcc.length;
    const why = all
      ? `all recipients are suppressed: ${describeSuppressed(suppressed)}`
      : `every to and cc recipient is suppressed: ${describeSuppressed(suppressed)}; ` +
        'bcc recipients alone are not sent to';
    const updated = await trx
      .updateTable('messages')
      .set({
        status: 'failed',
        attempt_count: sql<number>`attempt_count - 1`,
        next_attempt_at: null,
        lease_owner: null,
        lease_expires_at: null,
        last_error: why,
        updated_at: now,
        failed_at: now,
        // No attempt was made; the class says why, for the unsent view and filters.
        last_error_class: 'suppressed',
      })
      .where('id', '=', message.id)
      .where('lease_owner', '=', message.leaseOwner)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) {
      await setRecipientStatus(trx, [message.id], 'failed', now);
      await markSuppressed(trx, message.id, suppressed, now);
      webhooks.push(...statusWebhooksForMessage(message.id, 'failed'));
    }
  }
  await enqueueWebhookEvents(trx, handle, webhooks, now);
  return toSend;
}
