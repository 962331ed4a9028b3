import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Takes the recovery for `owner` until `now + ttlMs`, if nobody holds it, its lease has
 * expired, or it is held by `deadOwner` (a process on this host that no longer exists). One
 * statement, so of two processes trying at once exactly one wins.
 */
export async function acquireRecovery(
  handle: DatabaseHandle,
  id: string,
  owner: string,
  now: number,
  ttlMs: number,
  deadOwner: string | null,
): Promise<boolean> {
  const result = await handle.writeTransaction((trx) =>
    trx
      .updateTable('recoveries')
      .set({ lease_owner: owner, lease_expires_at: now + ttlMs })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where((eb) =>
        eb.or([
          eb('lease_owner', 'is', null),
          eb('lease_owner', '=', owner),
          eb('lease_expires_at', '<', now),
          ...(deadOwner ? [eb('lease_owner', '=', deadOwner)] : []),
        ]),
      )
      .executeTakeFirst(),
  );
  return Number(result.numUpdatedRows) > 0;
}

/** Gives the lease up (a clean stop), so another process need not wait it out. */
export async function releaseRecovery(
  handle: DatabaseHandle,
  id: string,
  owner: string,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('recoveries')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute(),
  );
}
