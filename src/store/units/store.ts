import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { UnitDirectory, UnitPage } from '../../domain/operations/ports.ts';
import type { Unit } from '../../domain/operations/units.ts';
import type { UnitAlertSettings } from '../../domain/ports/alert-store.ts';
import { settingsOfUnits } from '../alerts/unit-settings.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { createUnit } from './create.ts';
import { findUnitById, findUnitByName, findUnitNamedBefore } from './find.ts';
import { listUnits } from './list.ts';
import { unitNamesOf } from './names-of.ts';

/** Units (the directory the operations service reads), over the unit cache (cache.ts). */
export class SqlUnitStore implements UnitDirectory {
  constructor(private readonly handle: DatabaseHandle) {}

  list(page?: UnitPage): Promise<Unit[]> {
    return listUnits(this.handle, page);
  }

  findByName(name: string): Promise<Unit | null> {
    return findUnitByName(this.handle, name);
  }

  findById(id: string): Promise<Unit | null> {
    return findUnitById(this.handle, id);
  }

  namedBefore(name: string): Promise<Unit | null> {
    return findUnitNamedBefore(this.handle, name);
  }

  namesOf(ids: Iterable<string>): Promise<Map<string, string>> {
    return unitNamesOf(this.handle, ids);
  }

  create(unit: Unit, audit?: AuditEvent): Promise<boolean> {
    return createUnit(this.handle, unit, audit);
  }

  settingsOf(unitIds: readonly string[]): Promise<UnitAlertSettings[]> {
    return settingsOfUnits(this.handle, unitIds);
  }
}
