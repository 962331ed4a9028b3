import { firstIdAt } from '../../domain/ids.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Deletes up to `limit` finished (sent, failed, cancelled) messages created before `before`,
 * with their recipients, categories, metadata and attempts. Small batches keep each
 * transaction short; ids are time-ordered ULIDs, so the scan is a primary-key range.
 */
export function pruneFinishedMessages(
  handle: DatabaseHandle,
  before: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    const rows = await trx
      .selectFrom('messages')
      .select('id')
      .where('id', '<', firstIdAt('msg', before))
      .where('status', 'in', ['sent', 'failed', 'cancelled'])
      .orderBy('id')
      .limit(limit)
      .execute();
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    for (const table of [
      'recipients',
      'message_categories',
      'message_metadata',
      'attempts',
      'delivery_events',
    ] as const) {
      await trx.deleteFrom(table).where('message_id', 'in', ids).execute();
    }
    await trx.deleteFrom('messages').where('id', 'in', ids).execute();
    return ids.length;
  });
}
