import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes idempotency keys used before `olderThan`; returns how many. */
export async function pruneIdempotencyKeys(
  handle: DatabaseHandle,
  olderThan: number,
): Promise<number> {
  const result = await handle.db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', olderThan)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
