import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { Suppression } from '../../domain/suppression.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSuppression } from './rows.ts';

/**
 * Removes an address's entries and answers those removed (none: it was not on the list), with the
 * `audit` event of each in the same transaction. With `unitId`, only that unit's entry (null: the
 * entry of no unit): another unit's entry is not there for its keys, and stays.
 */
export function removeSuppression(
  handle: DatabaseHandle,
  email: string,
  unitId: string | null | undefined,
  audit: (removed: Suppression) => AuditEvent,
): Promise<Suppression[]> {
  return handle.writeTransaction(async (trx) => {
    let query = trx.deleteFrom('suppressions').where('email_normalized', '=', email.toLowerCase());
    if (unitId === null) query = query.where('unit_id', 'is', null);
    else if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
    const removed = (await query.returningAll().execute()).map(toSuppression);
    for (const entry of removed) await insertAuditEvent(trx, audit(entry));
    return removed;
  });
}
