import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes reports not updated since `before` (reporters that are gone); returns how many. */
export async function pruneHealth(handle: DatabaseHandle, before: number): Promise<number> {
  const result = await handle.writeTransaction(
    (trx) => trx.deleteFrom('provider_health').where('updated_at', '<', before).executeTakeFirst(),
    { asyncCommit: true },
  );
  return Number(result.numDeletedRows);
}
