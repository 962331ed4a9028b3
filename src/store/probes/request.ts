import type { DatabaseHandle } from '../engine/handle.ts';

/** Records that an operator asked for a probe of `provider` now. */
export async function requestProbe(
  handle: DatabaseHandle,
  provider: string,
  now: number,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .insertInto('provider_probe_requests')
      .values({ provider, requested_at: now })
      .onConflict((oc) => oc.column('provider').doUpdateSet({ requested_at: now }))
      .execute(),
  );
  // PostgreSQL: wakes idle workers elsewhere so they look now.
  handle.notify('tegami_due');
}
