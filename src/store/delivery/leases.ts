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

/**
 * Moves the leases `owner` holds on these messages (still being sent) to `until`; returns the
 * ids whose lease it still held. A message waiting its turn for the provider must not be claimed
 * again by another worker, or by this one, and sent twice.
 */
export async function extendLeases(
  handle: DatabaseHandle,
  owner: string,
  ids: readonly string[],
  until: number,
): Promise<string[]> {
  const kept: string[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await handle.db
      .updateTable('messages')
      .set({ next_attempt_at: until, lease_expires_at: until })
      .where('status', '=', 'sending')
      .where('lease_owner', '=', owner)
      .where('id', 'in', ids.slice(i, i + 500))
      .returning('id')
      .execute();
    for (const r of rows) kept.push(r.id);
  }
  return kept;
}
