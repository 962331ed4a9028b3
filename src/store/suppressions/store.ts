import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type {
  SuppressionPosition,
  SuppressionStore,
} from '../../domain/ports/suppression-store.ts';
import type { Suppression } from '../../domain/suppression.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { addSuppression } from './add.ts';
import { listSuppressions } from './list.ts';
import { removeSuppression } from './remove.ts';

/** The suppression list, as the API and the console manage it. */
export class SqlSuppressionStore implements SuppressionStore {
  constructor(private readonly handle: DatabaseHandle) {}

  list(filter: { email?: string; unitId?: string; limit: number; before?: SuppressionPosition }) {
    return listSuppressions(this.handle, filter);
  }

  add(
    entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string },
    audit: (added: Suppression) => AuditEvent,
  ) {
    return addSuppression(this.handle, entry, audit);
  }

  remove(
    email: string,
    unitId: string | null | undefined,
    audit: (removed: Suppression) => AuditEvent,
  ): Promise<Suppression[]> {
    return removeSuppression(this.handle, email, unitId, audit);
  }
}
