import { type Selectable, sql } from 'kysely';
import type {
  Suppression,
  SuppressionReason,
  SuppressionSource,
} from '../../domain/suppression.ts';
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
