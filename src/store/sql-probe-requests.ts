import type { ProbeRequests } from '../domain/operations/ports.ts';
import type { DatabaseHandle } from './engine/database.ts';

/**
 * Probe requests (`POST /v1/providers/{name}/probe`): the time an operator last asked for one,
 * per provider. Workers in any process read it while their circuit is open.
 */
export class SqlProbeRequests implements ProbeRequests {
  constructor(private readonly handle: DatabaseHandle) {}

  async request(provider: string, now: number): Promise<void> {
    await this.handle.writeTransaction((trx) =>
      trx
        .insertInto('provider_probe_requests')
        .values({ provider, requested_at: now })
        .onConflict((oc) => oc.column('provider').doUpdateSet({ requested_at: now }))
        .execute(),
    );
    // PostgreSQL: wakes idle workers elsewhere so they look now.
    this.handle.notify('tegami_due');
  }

  /** When a probe of `provider` was last asked for, or null. */
  async requestedAt(provider: string): Promise<number | null> {
    const row = await this.handle.db
      .selectFrom('provider_probe_requests')
      .select('requested_at')
      .where('provider', '=', provider)
      .executeTakeFirst();
    return row ? Number(row.requested_at) : null;
  }
}
