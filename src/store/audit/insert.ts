import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { Database } from '../schema.ts';

/** Writes one audit event, in the caller's transaction when it has one. */
export async function insertAuditEvent(db: Kysely<Database>, event: AuditEvent): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      id: event.id,
      at: event.at,
      actor_type: event.actor.type,
      actor_id: event.actor.id,
      actor_name: event.actor.name,
      unit_id: event.unitId,
      action: event.action,
      target: event.target,
      filter: event.filter ? JSON.stringify(event.filter) : null,
      counts: event.counts ? JSON.stringify(event.counts) : null,
    })
    .execute();
}
