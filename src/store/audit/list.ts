import {
  type AuditEvent,
  type AuditFilter,
  readActorFilter,
} from '../../domain/operations/audit.ts';
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
    const { type, idOrEmail } = readActorFilter(filter.actorId);
    query = query.where((eb) => {
      const byId = eb('actor_id', '=', idOrEmail);
      // A console user's e-mail is kept as the actor's name.
      const byEmail = eb.and([
        eb('actor_type', '=', 'console'),
        eb('actor_name', '=', idOrEmail.toLowerCase()),
      ]);
      if (type === null) return eb.or([byId, byEmail]);
      return eb.and([
        eb('actor_type', '=', type),
        type === 'console' ? eb.or([byId, byEmail]) : byId,
      ]);
    });
  }
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.after !== undefined) query = query.where('at', '>=', filter.after);
  if (filter.before !== undefined) query = query.where('at', '<', filter.before);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toAuditEvent);
}
