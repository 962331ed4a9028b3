import type { Kysely } from 'kysely';
import type { RecipientStatus } from '../../domain/types.ts';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/** Sets the status of every recipient of these messages (and clears a suppression reason). */
export async function setRecipientStatus(
  trx: Kysely<Database>,
  messageIds: string[],
  status: RecipientStatus,
  now: number,
): Promise<void> {
  for (const ids of chunks(messageIds)) {
    await trx
      .updateTable('recipients')
      .set({ status, suppressed_reason: null, updated_at: now })
      .where('message_id', 'in', ids)
      .execute();
  }
}
