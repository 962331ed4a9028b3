import type { Kysely } from 'kysely';
import type { SuppressedRecipient } from '../../domain/suppression.ts';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/** Marks a message's suppressed recipients `suppressed`, with the reason. */
export async function markSuppressed(
  trx: Kysely<Database>,
  messageId: string,
  suppressed: SuppressedRecipient[],
  now: number,
): Promise<void> {
  const byReason = new Map<string, string[]>();
  for (const s of suppressed) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.email]);
  for (const [reason, emails] of byReason) {
    for (const part of chunks(emails)) {
      await trx
        .updateTable('recipients')
        .set({ status: 'suppressed', suppressed_reason: reason, updated_at: now })
        .where('message_id', '=', messageId)
        .where('email_normalized', 'in', part)
        .execute();
    }
  }
}
