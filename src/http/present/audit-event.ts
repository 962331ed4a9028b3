import type { AuditEvent } from '../../domain/operations/audit.ts';

export function presentAuditEvent(e: AuditEvent, units: Map<string, string>) {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    actor: e.actor,
    unit: e.unitId === null ? null : (units.get(e.unitId) ?? e.unitId),
    action: e.action,
    target: e.target,
    filter: e.filter,
    counts: e.counts,
  };
}
