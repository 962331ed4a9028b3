import type { DatabaseHandle } from './engine/database.ts';

/**
 * A lease in the database that at most one process holds at a time. The holder renews it well
 * before it expires; when the holder dies, the lease expires and another process takes it over.
 */
export class SqlLeaderLease {
  constructor(
    private readonly handle: DatabaseHandle,
    readonly name: string,
    readonly holder: string,
  ) {}

  /** Takes or renews the lease; true when this holder has it until `now + ttlMs`. */
  async acquire(ttlMs: number, now: number): Promise<boolean> {
    const expiresAt = now + ttlMs;
    // One statement on both engines: insert, or take over a lease that is ours or has expired.
    await this.handle.db
      .insertInto('leader_leases')
      .values({ name: this.name, holder: this.holder, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder: this.holder, expires_at: expiresAt })
          .where((eb) =>
            eb.or([
              eb('leader_leases.holder', '=', this.holder),
              eb('leader_leases.expires_at', '<', now),
            ]),
          ),
      )
      .execute();
    const row = await this.handle.db
      .selectFrom('leader_leases')
      .select(['holder', 'expires_at'])
      .where('name', '=', this.name)
      .executeTakeFirst();
    return row?.holder === this.holder && row.expires_at === expiresAt;
  }

  /** Gives the lease up at once (on a clean stop), so another process need not wait it out. */
  async release(): Promise<void> {
    await this.handle.db
      .deleteFrom('leader_leases')
      .where('name', '=', this.name)
      .where('holder', '=', this.holder)
      .execute();
  }
}
