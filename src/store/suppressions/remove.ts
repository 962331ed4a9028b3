import type { Suppression } from '../../domain/suppression.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSuppression } from './rows.ts';

/**
 * Removes an address's entries and answers those removed (none: it was not on the list). With
 * `unitId`, only that unit's entry (null: the entry of no unit): another unit's entry is not
 * there for its keys, and stays.
 */
export async function removeSuppression(
  handle: DatabaseHandle,
  email: string,
  unitId?: string | null,
): Promise<Suppression[]> {
  let query = handle.db
    .deleteFrom('suppressions')
    .where('email_normalized', '=', email.toLowerCase());
  if (unitId === null) query = query.where('unit_id', 'is', null);
  else if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
  const removed = await query.returningAll().execute();
  return removed.map(toSuppression);
}
