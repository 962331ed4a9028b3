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
  if (filter.actor !== undefined) {
    const { type, id, names } = filter.actor;
    query = query.where((eb) => {
      const byId = eb('actor_id', '=', id);
      // An event keeps its actor's name (a key's name, a console user's e-mail) as it was then.
      const byName = names.map((n) =>
        eb.and([eb('actor_type', '=', n.type), eb('actor_name', '=', n.name)]),
      );
      const either = eb.or([byId, ...byName]);
      return type === null ? either : eb.and([eb('actor_type', '=', type), either]);
    });
  }
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.after !== undefined) query = query.where('at', '>=', filter.after);
  if (filter.before !== undefined) query = query.where('at', '<', filter.before);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toAuditEvent);
}
