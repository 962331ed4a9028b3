import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Removes an address from the list; false if it was not on it. With `unitId`, only an entry
 * of that unit: another unit's entry is not there for its keys.
 */
export async function removeSuppression(
  handle: DatabaseHandle,
  email: string,
  unitId?: string,
): Promise<boolean> {
  let query = handle.db
    .deleteFrom('suppressions')
    .where('email_normalized', '=', email.toLowerCase());
  if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
