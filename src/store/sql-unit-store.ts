import type { AuditEvent } from '../domain/operations/audit.ts';
import type { UnitDirectory } from '../domain/operations/ports.ts';
import type { Unit } from '../domain/operations/units.ts';
import type { DatabaseHandle } from './engine/database.ts';
import { insertAuditEvent } from './sql-audit-store.ts';

/**
 * Units, cached per database: a unit is never renamed or deleted, so once read an id and its name
 * stay true. A name or id not in the cache (a unit created by another process) is read again.
 */
const caches = new WeakMap<object, { byId: Map<string, Unit>; byName: Map<string, Unit> }>();

function cacheOf(handle: DatabaseHandle) {
  let cache = caches.get(handle);
  if (!cache) {
    cache = { byId: new Map(), byName: new Map() };
    caches.set(handle, cache);
  }
  return cache;
}

function remember(handle: DatabaseHandle, unit: Unit): Unit {
  const cache = cacheOf(handle);
  cache.byId.set(unit.id, unit);
  cache.byName.set(unit.name, unit);
  return unit;
}

const toUnit = (r: { id: string; name: string; created_at: number }): Unit => ({
  id: r.id,
  name: r.name,
  createdAt: Number(r.created_at),
});

export class SqlUnitStore implements UnitDirectory {
  constructor(private readonly handle: DatabaseHandle) {}

  async list(): Promise<Unit[]> {
    const rows = await this.handle.db.selectFrom('units').selectAll().orderBy('name').execute();
    return rows.map((r) => remember(this.handle, toUnit(r)));
  }

  async findByName(name: string): Promise<Unit | null> {
    const cached = cacheOf(this.handle).byName.get(name);
    if (cached) return cached;
    const row = await this.handle.db
      .selectFrom('units')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? remember(this.handle, toUnit(row)) : null;
  }

  async findById(id: string): Promise<Unit | null> {
    const cached = cacheOf(this.handle).byId.get(id);
    if (cached) return cached;
    const row = await this.handle.db
      .selectFrom('units')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? remember(this.handle, toUnit(row)) : null;
  }

  /** Names of these unit ids (ids of deleted units never occur: units are not deleted). */
  async namesOf(ids: Iterable<string>): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    const missing: string[] = [];
    const cache = cacheOf(this.handle);
    for (const id of new Set(ids)) {
      const unit = cache.byId.get(id);
      if (unit) names.set(id, unit.name);
      else missing.push(id);
    }
    if (missing.length > 0) {
      for (const unit of await this.list())
        if (missing.includes(unit.id)) names.set(unit.id, unit.name);
    }
    return names;
  }

  /** Creates the unit and records `audit` with it; false when the name is taken. */
  async create(unit: Unit, audit?: AuditEvent): Promise<boolean> {
    return this.handle.writeTransaction(async (trx) => {
      const inserted = await trx
        .insertInto('units')
        .values({ id: unit.id, name: unit.name, created_at: unit.createdAt })
        .onConflict((oc) => oc.column('name').doNothing())
        .returning('id')
        .execute();
      if (inserted.length === 0) return false;
      if (audit) await insertAuditEvent(trx, audit);
      remember(this.handle, unit);
      return true;
    });
  }
}
