import { BOOTSTRAP_KEY_NAME, BOOTSTRAP_SHOWN_NAME } from '../api-keys.ts';
import { normalizeEmail } from '../console-users.ts';
import type { Actor } from './scope.ts';

/**
 * The audit log: every operator action, with who, when, what, on what, the filter of a bulk
 * action and its counts. Kept TEGAMI_AUDIT_RETENTION_DAYS, apart from message retention.
 */
export const AUDIT_ACTIONS = [
  'recovery.start',
  'recovery.finish',
  'recovery.cancel',
  'message.retry',
  'message.cancel',
  'suppression.add',
  'suppression.remove',
  'key.create',
  'key.revoke',
  'unit.create',
  'unit.update',
  'alerts.test',
  'webhook_endpoint.create',
  'webhook_endpoint.delete',
  'webhook_endpoint.redeliver',
  'webhook_endpoint.rotate_secret',
  'provider.probe',
  'sendgrid_event_relay.put',
  'sendgrid_event_relay.delete',
  'user.create',
  'user.sign_out_everywhere',
  'user.unlock',
  'user.set_password',
  'user.disable',
  'user.enable',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEvent {
  id: string;
  at: number;
  actor: Actor;
  /** The unit the action concerned; null: every unit, or none (a provider). */
  unitId: string | null;
  action: AuditAction;
  /** What it was done to: a message, recovery, key, unit or endpoint id, an address, a provider. */
  target: string | null;
  filter: Record<string, unknown> | null;
  counts: Record<string, number> | null;
}

/**
 * Who an actor filter finds: the actor with that id, or every actor the log names that way.
 *
 * - An id of any type: a key's (`key_…`), an OS user's (`deploy`), a console user's (`usr_…`).
 * - An API key's name, as it was when the key acted (`hotel app`; letter case counts), and
 *   `bootstrap` for the key made from TEGAMI_BOOTSTRAP_API_KEY, as the log words it. Several keys
 *   of one name (one revoked, one made after it) are all found: any of them acted.
 * - A console user's e-mail, in any letter case (kept lower-cased, as a user's address is).
 * - The name of a `tegami` actor that has one (`first start`, the first admin's making).
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
