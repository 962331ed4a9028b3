import { type Kysely, sql } from 'kysely';
import type { GiveBack } from '../../domain/ports/delivery-store.ts';
import type { Database } from '../schema.ts';

/**
 * Messages a worker claimed and did not send (the provider started failing while they waited for
 * a connection): queued again, due at `at`, as if never claimed. Their attempt count goes back
 * down (the claim counted the attempt it was about to make) and no attempt is recorded: nothing
 * was sent. Only rows the worker still holds are changed.
 */
export async function writeGiveBacks(trx: Kysely<Database>, group: GiveBack[]): Promise<void> {
  for (const { owner, messageId, at, now } of group) {
    await trx
      .updateTable('messages')
      .set({
        status: 'queued',
        lease_owner: null,
        lease_expires_at: null,
        next_attempt_at: at,
        attempt_count: sql<number>`attempt_count - 1`,
        updated_at: now,
      })
      .where('id', '=', messageId)
      .where('status', '=', 'sending')
      .where('lease_owner', '=', owner)
      .execute();
  }
}
