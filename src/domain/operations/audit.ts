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
 * Who an actor filter names: `cli:<OS user>`, `console:<e-mail or id>` and `key:<id>` as the log
 * shows actors, or an id alone (of any type), or a console user's e-mail alone.
 */
export function readActorFilter(text: string): {
  type: Actor['type'] | null;
  /** Matched against the actor's id, and for console users also their e-mail (lower-cased). */
  idOrEmail: string;
} {
  const typed = /^(cli|console|key):(.+)$/.exec(text);
  return typed?.[1] && typed[2]
    ? { type: typed[1] as Actor['type'], idOrEmail: typed[2] }
    : { type: null, idOrEmail: text };
}

export interface AuditFilter {
  /** Only this unit's events (a unit key sees its own unit's only). */
  unitId?: string;
  /**
   * Who: an id (a key's, an OS user's, a console user's), or an actor as the log shows it:
   * `cli:<OS user>`, `console:<e-mail>`; a console user's e-mail alone also matches.
   */
  actorId?: string;
  action?: AuditAction;
  after?: number;
  before?: number;
  /** Cursor: events older than this id. */
  beforeId?: string;
  limit: number;
}

export const DEFAULT_AUDIT_RETENTION_DAYS = 400;
