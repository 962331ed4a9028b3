import { auditTargetName } from '../../domain/audit-words.ts';
import type { AuditNames } from '../../domain/operations/audit.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';

/** An audit event as the API and `tegami audit --json` show it; `names`: OperationsService.auditNames. */
export function presentAuditEvent(e: AuditEvent, names: AuditNames) {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    actor: e.actor,
    unit: e.unitId === null ? null : (names.units.get(e.unitId) ?? e.unitId),
    action: e.action,
    target: e.target,
    target_name: auditTargetName(e, names),
    filter: e.filter,
    counts: e.counts,
  };
}
