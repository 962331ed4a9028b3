import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Notes that a delivery event arrived for these messages: a sent message with none yet is
 * "unconfirmed", and the partial index `messages_unconfirmed` holds only such messages, so the
 * unsent view finds them without reading every sent message.
 */
export async function markConfirmed(
  trx: Kysely<Database>,
  messageIds: string[],
  now: number,
): Promise<void> {
  for (const part of chunks([...new Set(messageIds)])) {
    await trx
      .updateTable('messages')
      .set({ confirmed_at: now })
      .where('id', 'in', part)
      .where('confirmed_at', 'is', null)
      .execute();
  }
}
