import { firstIdAt } from '../../domain/ids.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Messages sent in the last 48 hours, before `sentBefore`, with no delivery event yet. Bounded
 * by id (ids are time-ordered) so it reads a small range of the status index, not the table.
 */
export async function countUnconfirmed(
  handle: DatabaseHandle,
  sentBefore: number,
  now: number,
): Promise<number> {
  const row = await handle.db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'sent')
    .where('id', '>=', firstIdAt('msg', now - 48 * 3600_000))
    .where('sent_at', '<', sentBefore)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('delivery_events')
            .select('delivery_events.message_id')
            .whereRef('delivery_events.message_id', '=', 'messages.id'),
        ),
      ),
    )
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
