import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes idempotency keys used before `olderThan`; returns how many. */
export async function pruneIdempotencyKeys(
  handle: DatabaseHandle,
  olderThan: number,
): Promise<number> {
  const result = await handle.writeTransaction(
    (trx) =>
      trx.deleteFrom('idempotency_keys').where('created_at', '<', olderThan).executeTakeFirst(),
    { asyncCommit: true },
  );
  return Number(result.numDeletedRows);
}
