import type { Kysely } from 'kysely';
import { PROOF_OF_ACCEPTANCE } from '../../domain/recipient-state.ts';
import { statusWebhooksForMessage, type WebhookEvent } from '../../domain/status-webhooks.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { sentColumns } from '../messages/columns.ts';
import { setRecipientStatus } from '../messages/set-recipient-status.ts';
import type { Database } from '../schema.ts';
import { enqueueWebhookEvents } from '../status-webhooks/enqueue.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Reconciling sends whose outcome is unknown: the request went out, no answer came, so the
 * provider may have taken the mail. Such a message waits (see `decideAfterAttempt`) instead of
 * being sent again at once; a delivery event for it during the wait proves the provider has it,
 * and the message becomes `sent` without a second send.
 *
 * Called in the transaction that stores the proving events. Returns the ids that were confirmed.
 */
export function confirmWaitingSends(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  messageIds: string[],
  now: number,
): Promise<string[]> {
  if (messageIds.length === 0) return Promise.resolve([]);
  return confirmWaiting(trx, handle, messageIds, now, { eventAlreadyRecorded: false });
}

/**
 * The other order: the provider's event came in before the worker recorded the timed-out
 * attempt (the provider took the mail at once and its answer was what got lost). Called in the
 * transaction that records such attempts, so the proof is not missed and the mail not resent.
 */
export function confirmFromRecordedEvents(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  messageIds: string[],
  now: number,
): Promise<string[]> {
  if (messageIds.length === 0) return Promise.resolve([]);
  return confirmWaiting(trx, handle, messageIds, now, { eventAlreadyRecorded: true });
}

async function confirmWaiting(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  messageIds: string[],
  now: number,
  { eventAlreadyRecorded }: { eventAlreadyRecorded: boolean },
): Promise<string[]> {
  const confirmed: string[] = [];
  for (const part of chunks(messageIds)) {
    let update = trx
      .updateTable('messages')
      .set(sentColumns(now))
      .where('id', 'in', part)
      // Only while it waits: a message being retried right now is left to that attempt.
      .where('status', '=', 'queued')
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('attempts')
            .select('attempts.message_id')
            .whereRef('attempts.message_id', '=', 'messages.id')
            .whereRef('attempts.number', '=', 'messages.attempt_count')
            .where('attempts.outcome', '=', 'unknown'),
        ),
      );
    if (eventAlreadyRecorded) {
      update = update.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('delivery_events')
            .select('delivery_events.message_id')
            .whereRef('delivery_events.message_id', '=', 'messages.id')
            .where('delivery_events.event', 'in', PROOF_OF_ACCEPTANCE),
        ),
      );
    }
    const rows = await update.returning('id').execute();
    confirmed.push(...rows.map((r) => r.id));
  }
  await setRecipientStatus(trx, confirmed, 'sent', now);
  const sent: WebhookEvent[] = confirmed.flatMap((messageId) =>
    statusWebhooksForMessage(messageId, 'sent'),
  );
  await enqueueWebhookEvents(trx, handle, sent, now);
  return confirmed;
}
