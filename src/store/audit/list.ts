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
  if (filter.actorId !== undefined) {
    // As the audit log shows actors (`cli:<OS user>`, `console:<e-mail>`), or by their id alone.
    const text = filter.actorId;
    const typed = /^(cli|console|key):(.+)$/.exec(text);
    query = query.where((eb) => {
      const byId = (id: string) => eb('actor_id', '=', id);
      const byEmail = (email: string) =>
        eb.and([eb('actor_type', '=', 'console'), eb('actor_name', '=', email.toLowerCase())]);
      if (typed?.[1] && typed[2]) {
        const [, type, rest] = typed;
        return eb.and([
          eb('actor_type', '=', type),
          type === 'console' ? eb.or([byId(rest), byEmail(rest)]) : byId(rest),
        ]);
      }
      return eb.or([byId(text), byEmail(text)]);
    });
  }
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.after !== undefined) query = query.where('at', '>=', filter.after);
  if (filter.before !== undefined) query = query.where('at', '<', filter.before);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toAuditEvent);
}
