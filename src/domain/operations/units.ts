import { OperationsError } from './errors.ts';

/**
 * A business unit (`hotel`, `restaurant`, ...) groups senders and the people who answer for them:
 * every API key and every message belongs to one. Units are never renamed or deleted, so a name
 * met once always means the same unit.
 */
export interface Unit {
  id: string;
  name: string;
  createdAt: number;
}

/** The unit existing data went into when units were introduced, and where keys go by default. */
export const DEFAULT_UNIT_NAME = 'default';

/** Lower-case letters, digits, `-` and `_`; it appears in URLs, CLI flags and filters. */
export const UNIT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function unitNameProblem(name: string): string | null {
  return UNIT_NAME.test(name)
    ? null
    : 'must be 1 to 63 lower-case letters, digits, - or _, starting with a letter or digit';
}

/** What an admin hears when a filter names a unit that does not exist. */
export function noSuchUnitFilter(name: string): OperationsError {
  return new OperationsError(
    'invalid',
    'the filter is invalid; see details',
    [{ field: 'unit', message: `no unit is named "${name}"` }],
    { field: 'unit', list: 'units' },
  );
}
