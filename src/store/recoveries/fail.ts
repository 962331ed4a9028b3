import { recoveryFinishEvent } from '../../domain/operations/recovery.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readRecovery } from './read.ts';
import { endedColumns } from './rows.ts';

/** Marks a recovery failed (it could not be worked through); its messages leave the set. */
export async function failRecovery(
  handle: DatabaseHandle,
  id: string,
  error: string,
  now: number,
): Promise<void> {
  await handle.writeTransaction(async (trx) => {
    const record = await readRecovery(trx, handle.dialect, id, true);
    if (record?.state !== 'running') return;
    await trx
      .updateTable('recovery_items')
      .set({ state: 'skipped', reason: 'recovery_cancelled' })
      .where('recovery_id', '=', id)
      .where('state', '=', 'pending')
      .execute();
    await trx
      .updateTable('recoveries')
      .set({
        state: 'failed',
        error,
        ...endedColumns(now),
      })
      .where('id', '=', id)
      .execute();
    await insertAuditEvent(trx, recoveryFinishEvent({ ...record, state: 'failed' }, now));
  });
}
