import type { DatabaseHandle } from '../engine/handle.ts';

/** Running recoveries and who holds each, oldest first. */
export async function runningRecoveries(
  handle: DatabaseHandle,
): Promise<{ id: string; leaseOwner: string | null; leaseExpiresAt: number }[]> {
  const rows = await handle.db
    .selectFrom('recoveries')
    .select(['id', 'lease_owner', 'lease_expires_at'])
    .where('state', '=', 'running')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at === null ? 0 : Number(r.lease_expires_at),
  }));
}
