import type { SelectQueryBuilder } from 'kysely';
import type { AuditFilter } from '../../domain/operations/audit.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { toAuditEvent } from './rows.ts';

/** Audit events matching `filter`, newest first. */
export async function listAuditEvents(
  handle: DatabaseHandle,
  filter: AuditFilter,
): Promise<AuditEvent[]> {
  const rows = await auditPageQuery(handle, filter).execute();
  return rows.map(toAuditEvent);
}

/**
 * The query of one page of the audit log, newest first (its plan is checked by the tests).
 *
 * With an actor, each way the actor may be recorded (by id; by each type and name
 * readActorFilter gives) is read as one range of its own index, newest first and at most a page
 * of it: `audit_events_actor` (`actor_id, id`) or `audit_events_actor_name` (`actor_type,
 * actor_name, id`, migration 029). The page is the newest of those few rows (an event found both
 * ways is one row: `union`). Written as one `or`, the filter was read either by walking the
 * log backwards until a page matched (all of it for a name that never acted), or, once migration
 * 029's index was there, through both indexes at once, which sorts every event of the actor
 * before the first page: on SQLite, 200,000 events, a console user with 11,000 of them took
 * 64 ms that way against 1.7 ms walking the log (docs/benchmarks.md, 2026-12-07).
 *
 * Each range is written as list-deliveries.ts writes its own, `c >= v and c <= v` (with a cursor,
 * `c >= v and (c, id) < (v, cursor)`) ordered by `c desc, id desc`: the same rows in the same
 * order as `c = v`, but PostgreSQL can then take that order only from the index, not by walking
 * the primary key backwards, which reads the rest of the log when the actor's events are old.
 * SQLite is told the index, as it has no statistics to choose by.
 */
export function auditPageQuery(handle: DatabaseHandle, filter: AuditFilter) {
  if (filter.actor === undefined) {
    return withFilter(handle.db.selectFrom('audit_events').selectAll(), filter)
      .orderBy('id', 'desc')
      .limit(filter.limit);
  }
  const { type, id, names } = filter.actor;
  const ways = [
    actorRange(handle, filter, 'audit_events_actor', 'actor_id', id, type),
    // An event keeps its actor's name (a key's name, a console user's e-mail) as it was then.
    ...names.map((n) =>
      actorRange(handle, filter, 'audit_events_actor_name', 'actor_name', n.name, n.type),
    ),
  ].map((range, i) => handle.db.selectFrom(range.as(`way_${i}`)).selectAll());
  const [first, ...rest] = ways as [(typeof ways)[number], ...typeof ways];
  const matches = rest.reduce((all, way) => all.union(way), first);
  return handle.db
    .selectFrom(matches.as('matches'))
    .selectAll()
    .orderBy('id', 'desc')
    .limit(filter.limit);
}

/** The newest page of the events with `column` = `value` (and `actor_type` = `type`). */
function actorRange(
  handle: DatabaseHandle,
  filter: AuditFilter,
  index: 'audit_events_actor' | 'audit_events_actor_name',
  column: 'actor_id' | 'actor_name',
  value: string,
  type: string | null,
) {
  let range = handle.db
    .selectFrom(handle.dialect.throughIndex('audit_events', index))
    .selectAll()
    .where(column, '>=', value);
  if (type !== null) range = range.where('actor_type', '=', type);
  const { beforeId, ...rest } = filter;
  range = withFilter(range, rest);
  range =
    beforeId === undefined
      ? range.where(column, '<=', value)
      : range.where(({ eb, refTuple, tuple }) =>
          eb(refTuple(column, 'id'), '<', tuple(value, beforeId)),
        );
  return range.orderBy(column, 'desc').orderBy('id', 'desc').limit(filter.limit);
}

/** The filters other than the actor. */
function withFilter<O>(
  query: SelectQueryBuilder<Database, 'audit_events', O>,
  filter: Omit<AuditFilter, 'actor'>,
): SelectQueryBuilder<Database, 'audit_events', O> {
  let q = query;
  if (filter.unitId !== undefined) q = q.where('unit_id', '=', filter.unitId);
  if (filter.action !== undefined) q = q.where('action', '=', filter.action);
  if (filter.after !== undefined) q = q.where('at', '>=', filter.after);
  if (filter.before !== undefined) q = q.where('at', '<', filter.before);
  if (filter.beforeId !== undefined) q = q.where('id', '<', filter.beforeId);
  return q;
}
