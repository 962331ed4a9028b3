import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes delivered and failed deliveries created before `before`; returns how many. */
export async function pruneFinishedDeliveries(
  handle: DatabaseHandle,
  before: number,
): Promise<number> {
  const result = await handle.writeTransaction(
    (trx) =>
      trx
        .deleteFrom('webhook_deliveries')
        .where('status', 'in', ['delivered', 'failed'])
        .where('created_at', '<', before)
        .executeTakeFirst(),
    { asyncCommit: true },
  );
  return Number(result.numDeletedRows);
}
