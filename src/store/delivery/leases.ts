import type { DatabaseHandle } from '../engine/handle.ts';

/** Who holds unexpired leases on messages being sent. */
export async function activeLeaseOwners(handle: DatabaseHandle, now: number): Promise<string[]> {
  const rows = await handle.db
    .selectFrom('messages')
    .select('lease_owner')
    .distinct()
    .where('status', '=', 'sending')
    .where('lease_expires_at', '>', now)
    .execute();
  return rows.flatMap((r) => (r.lease_owner ? [r.lease_owner] : []));
}

/** Makes the messages `owner` is sending due again at once (its process is gone); returns how many. */
export async function releaseLeases(
  handle: DatabaseHandle,
  owner: string,
  now: number,
): Promise<number> {
  const result = await handle.db
    .updateTable('messages')
    .set({ next_attempt_at: now, lease_expires_at: now, updated_at: now })
    .where('status', '=', 'sending')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
