import type { Unit } from '../../domain/operations/units.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Units, cached per database: a unit is never renamed or deleted, so once read an id and its name
 * stay true. A name or id not in the cache (a unit created by another process) is read again.
 */
const caches = new WeakMap<object, { byId: Map<string, Unit>; byName: Map<string, Unit> }>();

export function unitCache(handle: DatabaseHandle) {
  let cache = caches.get(handle);
  if (!cache) {
    cache = { byId: new Map(), byName: new Map() };
    caches.set(handle, cache);
  }
  return cache;
}

export function rememberUnit(handle: DatabaseHandle, unit: Unit): Unit {
  const cache = unitCache(handle);
  cache.byId.set(unit.id, unit);
  cache.byName.set(unit.name, unit);
  return unit;
}
