import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * A lease in the database that at most one process holds at a time. The holder renews it well
 * before it expires; when the holder dies, the lease expires and another process takes it over.
 */

/** Takes or renews the lease; true when `holder` has it until `now + ttlMs`. */
export async function acquireLeaderLease(
  handle: DatabaseHandle,
  name: string,
  holder: string,
  ttlMs: number,
  now: number,
): Promise<boolean> {
  const expiresAt = now + ttlMs;
  // One statement on both engines: insert, or take over a lease that is ours or has expired. In a
  // write transaction: on SQLite it waits for another process's lock on a timer, not with the
  // thread stopped (engine/sqlite-busy.ts); a renewal lost to a machine crash only expires.
  await handle.writeTransaction(
    (trx) =>
      trx
        .insertInto('leader_leases')
        .values({ name, holder, expires_at: expiresAt })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet({ holder, expires_at: expiresAt })
            .where((eb) =>
              eb.or([
                eb('leader_leases.holder', '=', holder),
                eb('leader_leases.expires_at', '<', now),
              ]),
            ),
        )
        .execute(),
    { asyncCommit: true },
  );
  const row = await handle.db
    .selectFrom('leader_leases')
    .select(['holder', 'expires_at'])
    .where('name', '=', name)
    .executeTakeFirst();
  return row?.holder === holder && row.expires_at === expiresAt;
}

/** Gives the lease up at once (on a clean stop), so another process need not wait it out. */
export async function releaseLeaderLease(
  handle: DatabaseHandle,
  name: string,
  holder: string,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx.deleteFrom('leader_leases').where('name', '=', name).where('holder', '=', holder).execute(),
  );
}
