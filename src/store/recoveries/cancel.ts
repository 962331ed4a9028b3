import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { RecoveryRecord } from '../../domain/operations/recovery.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readRecovery } from './read.ts';
import { addReasons, endedColumns } from './rows.ts';

/** Cancels a running recovery; its remaining messages leave the set. */
export function cancelRecovery(
  handle: DatabaseHandle,
  id: string,
  unitId: string | undefined,
  now: number,
  audit: (record: RecoveryRecord) => AuditEvent,
) {
  return handle.writeTransaction(async (trx) => {
    const record = await readRecovery(trx, handle.dialect, id, true);
    if (!record || (unitId !== undefined && record.unitId !== unitId))
      return { kind: 'not_found' } as const;
    if (record.state !== 'running') return { kind: 'finished', record } as const;
    // Its remaining messages leave the set, so another recovery may take them.
    const released = await trx
      .updateTable('recovery_items')
      .set({ state: 'skipped', reason: 'recovery_cancelled' })
      .where('recovery_id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    const n = Number(released.numUpdatedRows);
    await trx
      .updateTable('recoveries')
      .set({
        state: 'cancelled',
        skipped: record.skipped + n,
        skipped_reasons: JSON.stringify(
          addReasons(record.skippedReasons, new Map([['recovery_cancelled', n]])),
        ),
        ...endedColumns(now),
      })
      .where('id', '=', id)
      .execute();
    const cancelled = await readRecovery(trx, handle.dialect, id);
    if (!cancelled) throw new Error(`recovery ${id} vanished`);
    await insertAuditEvent(trx, audit(cancelled));
    return { kind: 'cancelled', record: cancelled } as const;
  });
}
