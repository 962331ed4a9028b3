import type { Selectable } from 'kysely';
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
