import type { Kysely, Selectable } from 'kysely';
import type { AuditAction, AuditEvent, AuditFilter } from '../domain/operations/audit.ts';
import type { AuditLog } from '../domain/operations/ports.ts';
import type { Actor } from '../domain/operations/scope.ts';
import type { DatabaseHandle } from './engine/database.ts';
import type { AuditEventTable, Database } from './schema.ts';

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

function toEvent(row: Selectable<AuditEventTable>): AuditEvent {
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

export class SqlAuditStore implements AuditLog {
  constructor(private readonly handle: DatabaseHandle) {}

  async record(event: AuditEvent): Promise<void> {
    await this.handle.writeTransaction((trx) => insertAuditEvent(trx, event));
  }

  async list(filter: AuditFilter): Promise<AuditEvent[]> {
    let query = this.handle.db.selectFrom('audit_events').selectAll();
    if (filter.unitId !== undefined) query = query.where('unit_id', '=', filter.unitId);
    if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.after !== undefined) query = query.where('at', '>=', filter.after);
    if (filter.before !== undefined) query = query.where('at', '<', filter.before);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toEvent);
  }

  async prune(before: number, limit: number): Promise<number> {
    return this.handle.writeTransaction(async (trx) => {
      const rows = await trx
        .selectFrom('audit_events')
        .select('id')
        .where('at', '<', before)
        .orderBy('id')
        .limit(limit)
        .execute();
      if (rows.length === 0) return 0;
      await trx
        .deleteFrom('audit_events')
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      return rows.length;
    });
  }
}
