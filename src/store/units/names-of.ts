import type { DatabaseHandle } from '../engine/handle.ts';
import { rememberUnit, unitCache } from './cache.ts';
import { toUnit } from './rows.ts';

/**
 * Ids looked up in one statement: far under SQLite's 32,766 bound parameters and PostgreSQL's
 * 65,535, and more than the units any page names.
 */
const IDS_PER_QUERY = 500;

/**
 * Names of these unit ids (ids of deleted units never occur: units are not deleted). Those not in
 * the unit cache are read by id, these only: reading every unit to name the few of a page cost
 * one row per unit on every page, however many units there are.
 */
export async function unitNamesOf(
  handle: DatabaseHandle,
  ids: Iterable<string>,
): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const missing: string[] = [];
  const cache = unitCache(handle);
  for (const id of new Set(ids)) {
    const unit = cache.byId.get(id);
    if (unit) names.set(id, unit.name);
    else missing.push(id);
  }
  for (let i = 0; i < missing.length; i += IDS_PER_QUERY) {
    const rows = await handle.db
      .selectFrom('units')
      .selectAll()
      .where('id', 'in', missing.slice(i, i + IDS_PER_QUERY))
      .execute();
    for (const row of rows) names.set(row.id, rememberUnit(handle, toUnit(row)).name);
  }
  return names;
}
