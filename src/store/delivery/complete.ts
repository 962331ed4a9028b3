import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { Completion } from '../../domain/ports/delivery-store.ts';
import { statusWebhooksForMessage, type WebhookEvent } from '../../domain/status-webhooks.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { acceptedAttemptColumns, lastAttemptColumns, sentColumns } from '../messages/columns.ts';
import { setRecipientStatus } from '../messages/set-recipient-status.ts';
import type { Database } from '../schema.ts';
import { enqueueWebhookEvents } from '../status-webhooks/enqueue.ts';
import { markSuppressed } from '../suppressions/mark-suppressed.ts';
import { chunks } from '../write/insert-rows.ts';
import { confirmFromRecordedEvents } from './confirm-waiting.ts';
import { attemptRow } from './rows.ts';

/**
 * A worker whose lease ran out may still finish its send: its result then takes the place of
 * the `unknown` attempt the lease sweep recorded in its name (leases.ts), so the timeline says
 * what happened. Any other attempt of the same number is left as it is (a completion written
 * twice, after a commit whose answer was lost).
 */
const ATTEMPT_COLUMNS = [
  'provider',
  'started_at',
  'duration_ms',
  'outcome',
  'http_status',
  'provider_message_id',
  'error_class',
  'detail',
  'response_excerpt',
  'provider_fault',
  'provider_errors',
  'rate_limit',
  'network_error',
];
const REPLACES_A_LOST_WORKERS_ATTEMPT = `on conflict (message_id, number) do update set ${ATTEMPT_COLUMNS.map(
  (c) => `${c} = excluded.${c}`,
).join(', ')} where attempts.error_class = 'worker_lost'`;

/**
 * Whether attempt `number` of `owner` still decides its message: the lease is still this
 * attempt's, or a lease sweep released the message in this attempt's name (leases.ts:
 * `worker_lost`: the database took no writes for longer than a lease, or the worker stalled) and
 * nobody claimed it since. Then the late result takes the place of the sweep's guess: a send the
 * provider accepted is `sent`, not sent again after the wait for proof. The number matters too:
 * the same worker may have claimed the message again since, and its stale result must not end
 * the newer attempt.
 */
function stillDecides(owner: string, number: number) {
  return (eb: ExpressionBuilder<Database, 'messages'>) =>
    eb.and([
      eb('attempt_count', '=', number),
      eb.or([
        eb('lease_owner', '=', owner),
        eb.and([
          eb('lease_owner', 'is', null),
          eb('status', '=', 'queued'),
          eb('last_error_class', '=', 'worker_lost'),
        ]),
      ]),
    ]);
}

/**
 * `sent` for these messages of one attempt, and for their recipients; returns the ids whose
 * attempt still decided them (`stillDecides`). Where a `WITH` may hold a write
 * (`Dialect.writesInWith`: PostgreSQL) one statement: the recipients are found by joining the
 * messages the update changed, so PostgreSQL reads them through their key whatever its
 * statistics say. (As an `IN` list of their own, on a table not analyzed yet, they were read by
 * a scan of the whole table, and the statement was one more round trip per group.) SQLite allows
 * no write in a `WITH`: two statements, as cheap there (no round trips).
 */
async function markSent(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  ids: string[],
  first: Completion,
  now: number,
): Promise<{ id: string }[]> {
  const sent = trx
    .updateTable('messages')
    .set({
      ...sentColumns(now),
      // One worker, one provider: every completion of this owner names the same one.
      ...acceptedAttemptColumns(first.attempt.provider),
    })
    .where('id', 'in', ids)
    .where(stillDecides(first.leaseOwner, first.attempt.number))
    .returning('id');
  if (handle.dialect.writesInWith) {
    return trx
      .with('sent', () => sent)
      .with('sent_recipients', (qb) =>
        qb
          .updateTable('recipients')
          .set({ status: 'sent', suppressed_reason: null, updated_at: now })
          .from('sent')
          .whereRef('recipients.message_id', '=', 'sent.id'),
      )
      .selectFrom('sent')
      .select('id')
      .execute();
  }
  const updated = await sent.execute();
  await setRecipientStatus(
    trx,
    updated.map((r) => r.id),
    'sent',
    now,
  );
  return updated;
}

/**
 * One transaction for a group of finished attempts: each message's new status, then every
 * attempt row. A status change applies only while the attempt still decides its message
 * (`stillDecides`), so a worker that was presumed dead cannot overwrite what its successor
 * recorded.
 *
 * The messages first, as the lease sweep does (leases.ts): on PostgreSQL a late result and the
 * sweep releasing the same message would otherwise lock its two rows in opposite orders, and one
 * of them would be aborted as a deadlock (a whole group of results retried item by item).
 */
export async function writeCompletions(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  group: Completion[],
): Promise<void> {
  const webhooks: WebhookEvent[] = [];
  const sentByAttempt = new Map<string, Completion[]>();
  for (const completion of group) {
    const { decision, messageId, leaseOwner, now } = completion;
    const applies = stillDecides(leaseOwner, completion.attempt.number);
    if (decision.kind === 'sent') {
      const key = `${leaseOwner}\u0000${completion.attempt.number}`;
      sentByAttempt.set(key, [...(sentByAttempt.get(key) ?? []), completion]);
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
        .where(applies)
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
        .where(applies)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) > 0) {
        await setRecipientStatus(trx, [messageId], 'failed', now);
        if (completion.suppressed?.length)
          await markSuppressed(trx, messageId, completion.suppressed, now);
        webhooks.push(...statusWebhooksForMessage(messageId, 'failed'));
      }
    }
  }

  for (const completions of sentByAttempt.values()) {
    const first = completions[0] as Completion;
    const now = first.now;
    for (const part of chunks(completions.map((c) => c.messageId))) {
      const updated = await markSent(trx, handle, part, first, now);
      for (const r of updated) webhooks.push(...statusWebhooksForMessage(r.id, 'sent'));
      const applied = new Set(updated.map((r) => r.id));
      for (const c of completions) {
        if (c.suppressed?.length && applied.has(c.messageId))
          await markSuppressed(trx, c.messageId, c.suppressed, now);
      }
    }
  }
  await handle.dialect.insertRows(
    trx,
    'attempts',
    group.map(attemptRow),
    REPLACES_A_LOST_WORKERS_ATTEMPT,
  );
  await enqueueWebhookEvents(trx, handle, webhooks, group[0]?.now ?? Date.now());

  // Timed-out sends now waiting for proof: the proof may already be here.
  const waiting = group
    .filter((c) => c.attempt.outcome === 'unknown' && c.decision.kind === 'retry')
    .map((c) => c.messageId);
  await confirmFromRecordedEvents(trx, handle, waiting, group[0]?.now ?? Date.now());
}
