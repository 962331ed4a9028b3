import type { RecoveryRecord } from '../../domain/operations/recovery.ts';
import type { MessageStatus } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toRecovery } from './rows.ts';

/**
 * A recovery (with `unitId`, only if it is that unit's) and the statuses now of the messages it
 * was the last to requeue, counted from the index of marked messages (022-recovery-outcome). One
 * snapshot: a chunk committed between the two reads would count messages its `done` does not.
 */
export function getRecoveryWithOutcome(
  handle: DatabaseHandle,
  id: string,
  unitId?: string,
): Promise<{ record: RecoveryRecord; statuses: Map<MessageStatus, number> | null } | null> {
  return handle.readSnapshot(async (trx) => {
    const row = await trx
      .selectFrom('recoveries')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row || (unitId !== undefined && row.unit_id !== unitId)) return null;
    const record = toRecovery(row);
    if (Number(row.outcome_tracked) !== 1) return { record, statuses: null };
    const counts = await trx
      .selectFrom('messages')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .where('last_recovery_id', '=', id)
      .groupBy('status')
      .execute();
    return {
      record,
      statuses: new Map(counts.map((c) => [c.status as MessageStatus, Number(c.n)])),
    };
  });
}
