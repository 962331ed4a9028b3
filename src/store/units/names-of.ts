import type { DatabaseHandle } from '../engine/handle.ts';
import { unitCache } from './cache.ts';
import { listUnits } from './list.ts';

/** Names of these unit ids (ids of deleted units never occur: units are not deleted). */
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
  if (missing.length > 0) {
    for (const unit of await listUnits(handle))
      if (missing.includes(unit.id)) names.set(unit.id, unit.name);
  }
  return names;
}
