import { newId } from '../ids.ts';
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
  'key.reactivate',
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

/** What an event says beyond who did what when; what is left out is null. */
export type AuditFields = Partial<Pick<AuditEvent, 'unitId' | 'target' | 'filter' | 'counts'>>;

/**
 * A new event, to be written in the same transaction as the change it records when the store
 * can (a unit, a recovery, a key or console user made at start): an event written after its
 * change is lost if the process stops between the two.
 */
export function newAuditEvent(
  actor: Actor,
  action: AuditAction,
  fields: AuditFields,
  at: number,
): AuditEvent {
  return {
    id: newId('aud'),
    at,
    actor,
    unitId: fields.unitId ?? null,
    action,
    target: fields.target ?? null,
    filter: fields.filter ?? null,
    counts: fields.counts ?? null,
  };
}
