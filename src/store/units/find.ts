import type { Unit } from '../../domain/operations/units.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { rememberUnit, unitCache } from './cache.ts';
import { toUnit } from './rows.ts';

/** The unit named `name`, from the cache when it has it. */
export async function findUnitByName(handle: DatabaseHandle, name: string): Promise<Unit | null> {
  const cached = unitCache(handle).byName.get(name);
  if (cached) return cached;
  const row = await handle.db
    .selectFrom('units')
    .selectAll()
    .where('name', '=', name)
    .executeTakeFirst();
  return row ? rememberUnit(handle, toUnit(row)) : null;
}

/**
 * The unit named just before `name`, in the order units are listed (the database's order of
 * names, as list.ts pages them): the page after it begins at `name`.
 */
export async function findUnitNamedBefore(
  handle: DatabaseHandle,
  name: string,
): Promise<Unit | null> {
  const row = await handle.db
    .selectFrom('units')
    .selectAll()
    .where('name', '<', name)
    .orderBy('name', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? rememberUnit(handle, toUnit(row)) : null;
}

/** The unit with this id, from the cache when it has it. */
export async function findUnitById(handle: DatabaseHandle, id: string): Promise<Unit | null> {
  const cached = unitCache(handle).byId.get(id);
  if (cached) return cached;
  const row = await handle.db
    .selectFrom('units')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? rememberUnit(handle, toUnit(row)) : null;
}
