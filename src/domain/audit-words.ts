import { BOOTSTRAP_KEY_NAME, BOOTSTRAP_SHOWN_NAME } from './api-keys.ts';
import { type AuditNames, auditTargetKind } from './operations/audit.ts';
import type { AuditEvent } from './operations/audit-event.ts';

/**
 * What an audit event was done to and where, as the console and `tegami audit` name them (the
 * API and `--json` keep the ids, with `target_name` beside them): a key by its name, a unit by
 * its name, a console user by e-mail; any other target (a message, a recovery, an address) as
 * it was recorded.
 */

/** The name of an event's target as stored (a key's, a unit's, a user's e-mail), or null. */
export function auditTargetName(event: AuditEvent, names: AuditNames): string | null {
  if (event.target === null) return null;
  switch (auditTargetKind(event.action)) {
    case 'key':
      return names.keys.get(event.target)?.name ?? null;
    case 'user':
      return names.users.get(event.target) ?? null;
    case 'unit':
      return names.units.get(event.target) ?? null;
    case null:
      return null;
  }
}

/**
 * The target as people read it: `hotel app` for a key (`bootstrap` for the key from
 * TEGAMI_BOOTSTRAP_API_KEY, as actors are named), a unit's name, a user's e-mail; the id when
 * the thing has no name, or is not found. `id`: the key's id where a name stands for a key, which
 * `tegami keys revoke` and `--actor` take (a unit's and a user's commands take their names).
 */
export function auditTargetText(
  event: AuditEvent,
  names: AuditNames,
): { text: string; keyId: string | null } | null {
  if (event.target === null) return null;
  const name = auditTargetName(event, names);
  if (name === null) return { text: event.target, keyId: null };
  if (auditTargetKind(event.action) !== 'key') return { text: name, keyId: null };
  return { text: name === BOOTSTRAP_KEY_NAME ? BOOTSTRAP_SHOWN_NAME : name, keyId: event.target };
}

/** `auditTargetText` on one line for a terminal: "hotel app (key_01…)", "hotel", an address. */
export function auditTargetLine(event: AuditEvent, names: AuditNames): string | null {
  const target = auditTargetText(event, names);
  if (target === null) return null;
  return target.keyId === null ? target.text : `${target.text} (${target.keyId})`;
}

/**
 * The unit an event names, by name. An admin key's events name no unit (it acts on every unit,
 * so a unit's own keys and users do not see them): those show the key's own unit, where its
 * mail goes, as `tegami keys list` does: `default (admin)`.
 */
export function auditUnitText(event: AuditEvent, names: AuditNames): string | null {
  if (event.unitId !== null) return names.units.get(event.unitId) ?? event.unitId;
  if (event.target === null || auditTargetKind(event.action) !== 'key') return null;
  const key = names.keys.get(event.target);
  if (!key?.admin) return null;
  return `${names.units.get(key.unitId) ?? key.unitId} (admin)`;
}

/**
 * An event's filter in words where it is no filter but what a thing was made with: a new key's
 * `admin key: every unit` or `unit key`, and its priority (`priority bulk`). Null for the
 * others, whose filter is shown as recorded.
 */
export function auditDetailsText(event: AuditEvent): string | null {
  if (event.action !== 'key.create' || event.filter === null) return null;
  const { admin, default_priority: priority } = event.filter;
  const kind = admin === true ? 'admin key: every unit' : 'unit key';
  return typeof priority === 'string' ? `${kind}, priority ${priority}` : kind;
}
