import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Removes a unit's relay and the events still queued for it, with `audit` in the same
 * transaction; true if it had one (none: nothing removed, nothing recorded).
 */
export async function removeEventRelay(
  handle: DatabaseHandle,
  unitId: string,
  audit: AuditEvent,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    await trx.deleteFrom('sendgrid_relay_events').where('unit_id', '=', unitId).execute();
    const result = await trx
      .deleteFrom('sendgrid_event_relays')
      .where('unit_id', '=', unitId)
      .executeTakeFirst();
    const removed = Number(result.numDeletedRows) > 0;
    if (removed) await insertAuditEvent(trx, audit);
    return removed;
  });
}
