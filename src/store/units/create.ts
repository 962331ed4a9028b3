import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { Unit } from '../../domain/operations/units.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { rememberUnit } from './cache.ts';

/** Creates the unit and records `audit` with it; false when the name is taken. */
export function createUnit(
  handle: DatabaseHandle,
  unit: Unit,
  audit?: AuditEvent,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const inserted = await trx
      .insertInto('units')
      .values({ id: unit.id, name: unit.name, created_at: unit.createdAt })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .execute();
    if (inserted.length === 0) return false;
    if (audit) await insertAuditEvent(trx, audit);
    rememberUnit(handle, unit);
    return true;
  });
}
