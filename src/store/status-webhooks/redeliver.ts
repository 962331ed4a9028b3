import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Sends failed deliveries of an endpoint again (those created at or after `since`, if given):
 * for when the application was down longer than the retry window. Each gets a fresh window
 * and backoff; the log keeps its last error, and when it was, until the next attempt. Returns how many.
 */
export async function redeliver(
  handle: DatabaseHandle,
  endpointId: string,
  since: number | null,
  now: number,
): Promise<number> {
  const result = await handle.writeTransaction((trx) => {
    let update = trx
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: now, retry_from: now })
      .where('endpoint_id', '=', endpointId)
      .where('status', '=', 'failed');
    if (since !== null) update = update.where('created_at', '>=', since);
    return update.executeTakeFirst();
  });
  return Number(result.numUpdatedRows);
}
