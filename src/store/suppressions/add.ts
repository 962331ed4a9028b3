import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { Suppression } from '../../domain/suppression.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { withMessageIds } from './list.ts';
import { ENTRY_KEY, toSuppression } from './rows.ts';

/**
 * Adds the unit's entry for an address, with its `audit` event in the same transaction; if the
 * unit has one already, that one is kept and returned, and nothing is recorded. Other units'
 * entries for the address are neither changed nor returned.
 */
export async function addSuppression(
  handle: DatabaseHandle,
  entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string },
  audit: (added: Suppression) => AuditEvent,
): Promise<{ created: boolean; suppression: Suppression }> {
  const added = await handle.writeTransaction(async (trx) => {
    const inserted = await trx
      .insertInto('suppressions')
      .values({
        email_normalized: entry.email.toLowerCase(),
        email: entry.email,
        reason: entry.reason,
        source: entry.source,
        event_key: null,
        detail: null,
        created_at: entry.createdAt,
        unit_id: entry.unitId,
      })
      .onConflict((oc) => oc.expression(ENTRY_KEY).doNothing())
      .returning('email_normalized')
      .execute();
    const row = await trx
      .selectFrom('suppressions')
      .selectAll()
      .where('email_normalized', '=', entry.email.toLowerCase())
      .where('unit_id', '=', entry.unitId)
      .executeTakeFirstOrThrow();
    const suppression = toSuppression(row);
    const created = inserted.length > 0;
    if (created) await insertAuditEvent(trx, audit(suppression));
    return { created, suppression };
  });
  // The unit's entry may be an event's from before: shown with its message, as in the list.
  const [suppression] = await withMessageIds(handle, [added.suppression]);
  return { created: added.created, suppression: suppression ?? added.suppression };
}
