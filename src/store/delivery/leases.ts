import type { DatabaseHandle } from '../engine/handle.ts';
import { chunks } from '../write/insert-rows.ts';

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
  // At most 500 bound ids per statement (`chunks`' default), well under SQLite's limit.
  for (const some of chunks([...ids])) {
    const rows = await handle.db
      .updateTable('messages')
      .set({ next_attempt_at: until, lease_expires_at: until })
      .where('status', '=', 'sending')
      .where('lease_owner', '=', owner)
      .where('id', 'in', some)
      .returning('id')
      .execute();
    for (const r of rows) kept.push(r.id);
  }
  return kept;
}
