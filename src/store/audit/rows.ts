import type { Selectable } from 'kysely';
import type { AuditAction, AuditEvent } from '../../domain/operations/audit-event.ts';
import type { Actor } from '../../domain/operations/scope.ts';
import type { AuditEventTable } from '../schema.ts';

export function toAuditEvent(row: Selectable<AuditEventTable>): AuditEvent {
  return {
    id: row.id,
    at: Number(row.at),
    actor: {
      type: row.actor_type as Actor['type'],
      id: row.actor_id,
      name: row.actor_name,
    },
    unitId: row.unit_id,
    action: row.action as AuditAction,
    target: row.target,
    filter: row.filter ? (JSON.parse(row.filter) as Record<string, unknown>) : null,
    counts: row.counts ? (JSON.parse(row.counts) as Record<string, number>) : null,
  };
}
