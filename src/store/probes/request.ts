import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Records that an operator asked for a probe of `provider` now, and `audit` (its
 * provider.probe) in the same transaction, so there is no request without its event or the
 * other way round.
 */
export async function requestProbe(
  handle: DatabaseHandle,
  provider: string,
  now: number,
  audit: AuditEvent,
): Promise<void> {
  await handle.writeTransaction(async (trx) => {
    await trx
      .insertInto('provider_probe_requests')
      .values({ provider, requested_at: now })
      .onConflict((oc) => oc.column('provider').doUpdateSet({ requested_at: now }))
      .execute();
    await insertAuditEvent(trx, audit);
  });
  // PostgreSQL: wakes idle workers elsewhere so they look now; after the commit, so a worker
  // woken by it reads the request.
  handle.notify('tegami_due');
}
