import { BOOTSTRAP_KEY_NAME, BOOTSTRAP_SHOWN_NAME } from '../api-keys.ts';
import { normalizeEmail } from '../console-users.ts';
import type { AuditAction } from './audit-event.ts';
import type { Actor } from './scope.ts';

/**
 * Who acts when a start of Tegami makes or changes something by itself (`tegami serve`, `api` or
 * `worker`), named by the occasion, then by what made it do so:
 * - the first console admin, from TEGAMI_ADMIN_EMAIL (`first start · from TEGAMI_ADMIN_EMAIL`);
 * - the first API key, made because there was none (`first start · Tegami itself`);
 * - the key from TEGAMI_BOOTSTRAP_API_KEY, made, or made active again after a revocation, at
 *   any start where the variable names it (`start · from TEGAMI_BOOTSTRAP_API_KEY`).
 * The first key's id holds a space, so it is no OS user's who ran `tegami` (a `cli` actor too).
 */
export const START_ACTORS = {
  firstAdmin: { type: 'cli', id: 'TEGAMI_ADMIN_EMAIL', name: 'first start' },
  firstKey: { type: 'cli', id: 'tegami itself', name: 'first start' },
  bootstrapKey: { type: 'cli', id: 'TEGAMI_BOOTSTRAP_API_KEY', name: 'start' },
} as const satisfies Record<string, Actor>;

/** What an event's target names, when it is one that has a name for people. */
export type AuditTargetKind = 'key' | 'unit' | 'user';

/** The kind of thing `action` is done to, when its target has a name (a key, a unit, a user). */
export function auditTargetKind(action: AuditAction): AuditTargetKind | null {
  if (action.startsWith('key.')) return 'key';
  if (action.startsWith('user.')) return 'user';
  if (action.startsWith('unit.') || action.startsWith('sendgrid_event_relay.')) return 'unit';
  return null;
}

/** A key as the audit log names it: by its name, in its unit, admin or not. */
export interface AuditedKey {
  name: string;
  unitId: string;
  admin: boolean;
}

/**
 * The names an audit log page needs (OperationsService.auditNames): the keys and console users
 * its events are about, by id, and the name of every unit it mentions (the events' own units,
 * the units they are about, the keys' units).
 */
export interface AuditNames {
  keys: Map<string, AuditedKey>;
  /** A console user's e-mail by id. */
  users: Map<string, string>;
  units: Map<string, string>;
}

/**
 * Who an actor filter finds: the actor with that id, or every actor the log names that way.
 *
 * - An id of any type: a key's (`key_…`), an OS user's (`deploy`), a console user's (`usr_…`).
 * - An API key's name, as it was when the key acted (`hotel app`; letter case counts), and
 *   `bootstrap` for the key made from TEGAMI_BOOTSTRAP_API_KEY, as the log words it. Several keys
 *   of one name (one revoked, one made after it) are all found: any of them acted.
 * - A console user's e-mail, in any letter case (kept lower-cased, as a user's address is).
 * - The name of a start's actor (START_ACTORS): `first start`, `start`.
 *
 * `cli:`, `console:` or `key:` before any of these keeps to actors of that type (`key:deploy`: a
 * key named deploy, not the OS user). Names are matched against the name each event recorded with
 * its actor, so what the log shows is what finds it; nothing matched is no event, not an error.
 */
export interface ActorMatch {
  /** Only actors of this type (the text began with `cli:`, `console:` or `key:`); null: any. */
  type: Actor['type'] | null;
  /** The actor with this id. */
  id: string;
  /** Or an actor of this type recorded under one of these names. */
  names: { type: Actor['type']; name: string }[];
}

export function readActorFilter(text: string): ActorMatch {
  const typed = /^(cli|console|key):(.+)$/.exec(text);
  const type = typed?.[1] && typed[2] ? (typed[1] as Actor['type']) : null;
  const who = type !== null && typed?.[2] ? typed[2] : text;
  const names: ActorMatch['names'] = [
    { type: 'key', name: who },
    ...(who === BOOTSTRAP_SHOWN_NAME ? [{ type: 'key' as const, name: BOOTSTRAP_KEY_NAME }] : []),
    { type: 'console', name: normalizeEmail(who) },
    { type: 'cli', name: who },
  ];
  return {
    type,
    id: who,
    names: names.filter((n) => type === null || n.type === type),
  };
}

/** What the audit log is asked for (AuditLog.list). */
export interface AuditFilter {
  /** Only this unit's events (a unit key sees its own unit's only). */
  unitId?: string;
  /** Who (readActorFilter). */
  actor?: ActorMatch;
  action?: AuditAction;
  after?: number;
  before?: number;
  /** Cursor: events older than this id. */
  beforeId?: string;
  limit: number;
}

/** What an operator asks for (OperationsService.listAudit): a unit by name, who in words. */
export type AuditQuery = Omit<AuditFilter, 'unitId' | 'actor'> & {
  unit?: string;
  /**
   * Who, as readActorFilter reads it: an id (a key's, an OS user's, a console user's), an API
   * key's name, a console user's e-mail, each alone or after `key:`, `cli:` or `console:`.
   */
  actor?: string;
};

export const DEFAULT_AUDIT_RETENTION_DAYS = 400;
