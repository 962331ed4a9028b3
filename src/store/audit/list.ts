import type { AuditEvent, AuditFilter } from '../../domain/operations/audit.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toAuditEvent } from './rows.ts';

/** Audit events matching `filter`, newest first. */
export async function listAuditEvents(
  handle: DatabaseHandle,
  filter: AuditFilter,
): Promise<AuditEvent[]> {
  let query = handle.db.selectFrom('audit_events').selectAll();
  if (filter.unitId !== undefined) query = query.where('unit_id', '=', filter.unitId);
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.after !== undefined) query = query.where('at', '>=', filter.after);
  if (filter.before !== undefined) query = query.where('at', '<', filter.before);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toAuditEvent);
}
