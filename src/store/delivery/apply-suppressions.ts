import { type Kysely, sql } from 'kysely';
import { statusWebhooksForMessage, type WebhookEvent } from '../../domain/status-webhooks.ts';
import {
  describeSuppressed,
  recipientAddresses,
  type SuppressedRecipient,
  suppressionReasonFor,
  withoutSuppressed,
} from '../../domain/suppression.ts';
import { type ClaimedMessage, SUPPRESSED_ERROR_CLASS } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { setRecipientStatus } from '../messages/set-recipient-status.ts';
import type { Database } from '../schema.ts';
import { enqueueWebhookEvents } from '../status-webhooks/enqueue.ts';
import { findSuppressed } from '../suppressions/find-suppressed.ts';
import { markSuppressed } from '../suppressions/mark-suppressed.ts';

export /**
 * Takes suppressed recipients out of claimed messages: addresses with an entry of any unit, or of
 * none (domain/suppression.ts). Messages with someone left to send to go to the worker with their
 * `suppressed` list; the others are dead-lettered at once: status `failed`, `last_error` naming
 * each address and its reason, suppressed recipients `suppressed`.
 * No attempt is recorded for them (the provider was not called), and the claim's increment of
 * `attempt_count` is undone, so `attempt_count` still counts provider calls.
 */
async function applySuppressions(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  claimed: ClaimedMessage[],
  now: number,
): Promise<ClaimedMessage[]> {
  const emails = new Set(claimed.flatMap((m) => recipientAddresses(m.content)));
  const suppressions = await findSuppressed(trx, [...emails]);
  if (suppressions.size === 0) return claimed;
  const toSend: ClaimedMessage[] = [];
  const webhooks: WebhookEvent[] = [];
  for (const message of claimed) {
    const { to, cc, bcc } = message.content;
    const suppressed: SuppressedRecipient[] = [];
    for (const a of [...to, ...cc, ...bcc]) {
      const email = a.email.toLowerCase();
      const reason = suppressionReasonFor(suppressions.get(email) ?? [], message.unitId);
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
        last_error_class: SUPPRESSED_ERROR_CLASS,
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
