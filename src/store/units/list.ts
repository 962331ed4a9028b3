import type { Unit } from '../../domain/operations/units.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { rememberUnit } from './cache.ts';
import { toUnit } from './rows.ts';

/** Every unit, by name; each is remembered in the unit cache. */
export async function listUnits(handle: DatabaseHandle): Promise<Unit[]> {
  const rows = await handle.db.selectFrom('units').selectAll().orderBy('name').execute();
  return rows.map((r) => rememberUnit(handle, toUnit(r)));
}
