import type { RecoveryRecord } from '../../domain/operations/recovery.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toRecovery } from './rows.ts';

/** Recoveries, newest first. */
export async function listRecoveries(
  handle: DatabaseHandle,
  options: {
    unitId?: string;
    beforeId?: string;
    limit: number;
  },
): Promise<RecoveryRecord[]> {
  let query = handle.db.selectFrom('recoveries').selectAll();
  if (options.unitId !== undefined) query = query.where('unit_id', '=', options.unitId);
  if (options.beforeId !== undefined) query = query.where('id', '<', options.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(options.limit).execute();
  return rows.map(toRecovery);
}
