import { type RawBuilder, type Selectable, sql } from 'kysely';
import type {
  Suppression,
  SuppressionReason,
  SuppressionSource,
} from '../../domain/suppression.ts';
import type { Dialect } from '../engine/handle.ts';
import type { SuppressionTable } from '../schema.ts';

export function toSuppression(row: Selectable<SuppressionTable>): Suppression {
  return {
    email: row.email,
    reason: row.reason as SuppressionReason,
    source: row.source as SuppressionSource,
    eventKey: row.event_key,
    detail: row.detail,
    createdAt: Number(row.created_at),
    unitId: row.unit_id ?? null,
  };
}

/**
 * An entry's unit with '' for none, as the indexes hold it (migration 018): a null unit counts as
 * one value, so an address has at most one entry of no unit, and the list pages in a fixed order.
 */
export const UNIT_KEY = sql<string>`coalesce(unit_id, '')`;

/** The key of an entry, as an ON CONFLICT target: the unique index `suppressions_entry`. */
export const ENTRY_KEY = sql`email_normalized, (coalesce(unit_id, ''))`;

/**
 * Whether the entry `stored` (a table alias) is one of events whose event comes after the event
 * of `arriving` (an alias, or `excluded` in an upsert), so `arriving` takes it over: the order of
 * `compareSuppressionEvents`, their time, then their key compared byte by byte. An entry added by
 * hand is never taken over. A stored entry without a time (an earlier release's process recorded
 * it) counts as the latest.
 */
export function takenOverBy(
  dialect: Dialect,
  stored: string,
  arriving: string,
): RawBuilder<boolean> {
  const at = (alias: string) => sql.ref(`${alias}.event_occurred_at`);
  const key = (alias: string) => dialect.inByteOrder(sql.ref(`${alias}.event_key`));
  return sql<boolean>`${sql.ref(`${stored}.source`)} = 'event' and (
    ${at(stored)} is null
    or ${at(arriving)} < ${at(stored)}
    or (${at(arriving)} = ${at(stored)} and ${key(arriving)} < ${key(stored)}))`;
}
