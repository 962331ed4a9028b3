/**
 * Who may see what. A unit key sees and acts on its own unit only; an admin key on every unit.
 * Anything of another unit is treated as if it did not exist (404, never 403): a unit must not
 * learn another unit's ids, addresses or counts.
 */
export type Scope = { kind: 'all' } | { kind: 'unit'; unitId: string };

export const ALL_UNITS: Scope = { kind: 'all' };

export function unitScope(unitId: string): Scope {
  return { kind: 'unit', unitId };
}

/** Whether something of `unitId` (null: of no unit, or of every unit) is visible in `scope`. */
export function canSee(scope: Scope, unitId: string | null): boolean {
  return scope.kind === 'all' || scope.unitId === unitId;
}

/** Who did something, as the audit log records it. */
export interface Actor {
  /** key: an API key; cli: the `tegami` command (the OS user); console: a console user. */
  type: 'key' | 'cli' | 'console';
  /** The key id, the OS user name or the console user's id. */
  id: string;
  /** A name for people: the key's name; null when there is none. */
  name: string | null;
}
