import type { UnitPage } from '../../domain/operations/ports.ts';
import type { Unit } from '../../domain/operations/units.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { rememberUnit } from './cache.ts';
import { toUnit } from './rows.ts';

/** Every unit by name, or a page of them; each is remembered in the unit cache. */
export async function listUnits(handle: DatabaseHandle, page?: UnitPage): Promise<Unit[]> {
  let query = handle.db.selectFrom('units').selectAll().orderBy('name');
  // Units are never renamed or deleted: the name of the last one shown is where the page ends.
  if (page?.afterId !== undefined) {
    const afterId = page.afterId;
    query = query.where('name', '>', (eb) =>
      eb.selectFrom('units').select('name').where('id', '=', afterId),
    );
  }
  if (page) query = query.limit(page.limit);
  const rows = await query.execute();
  return rows.map((r) => rememberUnit(handle, toUnit(r)));
}
