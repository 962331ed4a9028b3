import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';
import { unmatchedIndex } from './unmatched-index.ts';

/**
 * Deletes up to `limit` events that never matched a message and arrived before
 * `receivedBefore` (matched events go with their message). Returns how many.
 */
export function pruneUnmatched(
  handle: DatabaseHandle,
  receivedBefore: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    const { rows } = await sql<{ event_key: string }>`select event_key
      from delivery_events${unmatchedIndex(handle.dialect)}
      where message_id is null and received_at < ${receivedBefore}
      order by received_at, event_key
      limit ${limit}`.execute(trx);
    const keys = rows.map((r) => r.event_key);
    if (keys.length === 0) return 0;
    await trx.deleteFrom('delivery_events').where('event_key', 'in', keys).execute();
    return keys.length;
  });
}
