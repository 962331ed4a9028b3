import type { Suppression } from '../suppression.ts';

/** The suppression list (see suppression.ts), for the API. */
/** Where a page of the suppression list ends: its last entry's time and lower-cased address. */
export interface SuppressionPosition {
  createdAt: number;
  emailNormalized: string;
}

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
  /** Adds an address; an address already on the list keeps its entry (`created: false`). */
  add(
    entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string },
  ): Promise<{ created: boolean; suppression: Suppression }>;
  /** False when the address was not on the list (as that unit's, with `unitId`). */
  remove(email: string, unitId?: string): Promise<boolean>;
}
