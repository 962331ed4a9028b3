import type { AuditEvent } from '../operations/audit-event.ts';
import type { Suppression } from '../suppression.ts';

/**
 * Where a page of the suppression list ends: its last entry's time, lower-cased address and unit
 * ('' for none: entries of several units may share an address and a time).
 */
export interface SuppressionPosition {
  createdAt: number;
  emailNormalized: string;
  unitKey: string;
}

/** The suppression list (see suppression.ts), for the API and the console. */
export interface SuppressionStore {
  /**
   * Newest first; `email` is an exact (case-insensitive) look-up; `unitId`: that unit's only.
   * `before` continues after a page; `next` is where the next page starts, null after the last.
   */
  list(filter: {
    email?: string;
    unitId?: string;
    limit: number;
    before?: SuppressionPosition;
  }): Promise<{
    entries: Suppression[];
    next: SuppressionPosition | null;
  }>;
  /**
   * Adds the unit's entry for an address, and `audit` of it in the same transaction; if the unit
   * has one already, it is kept and returned (`created: false`) and nothing is recorded. Another
   * unit's entry for the address changes nothing here.
   */
  add(
    entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string },
    audit: (added: Suppression) => AuditEvent,
  ): Promise<{ created: boolean; suppression: Suppression }>;
  /**
   * Removes the address's entries: with `unitId`, that unit's only (null: the entry of no unit);
   * undefined, every entry of the address. `audit` of each entry removed is written in the same
   * transaction. Answers the entries removed (none: it was not there, and nothing is recorded).
   */
  remove(
    email: string,
    unitId: string | null | undefined,
    audit: (removed: Suppression) => AuditEvent,
  ): Promise<Suppression[]>;
}
