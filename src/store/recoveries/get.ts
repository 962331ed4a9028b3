import type { RecoveryRecord } from '../../domain/operations/recovery.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readRecovery } from './read.ts';

/** A recovery; with `unitId`, only if it is that unit's. */
export async function getRecovery(
  handle: DatabaseHandle,
  id: string,
  unitId?: string,
): Promise<RecoveryRecord | null> {
  const record = await readRecovery(handle.db, handle.dialect, id);
  if (!record || (unitId !== undefined && record.unitId !== unitId)) return null;
  return record;
}
