import type { Selectable } from 'kysely';
import type {
  RecoveryAction,
  RecoveryRecord,
  RecoveryState,
  SkipReason,
} from '../../domain/operations/recovery.ts';
import type { Actor } from '../../domain/operations/scope.ts';
import type { RecoveryTable } from '../schema.ts';

export function toRecovery(row: Selectable<RecoveryTable>): RecoveryRecord {
  return {
    id: row.id,
    unitId: row.unit_id,
    action: row.action as RecoveryAction,
    filter: JSON.parse(row.filter) as Record<string, unknown>,
    ratePerS: row.rate_per_s === null ? null : Number(row.rate_per_s),
    state: row.state as RecoveryState,
    matched: Number(row.matched),
    done: Number(row.done),
    skipped: Number(row.skipped),
    skippedReasons: JSON.parse(row.skipped_reasons) as RecoveryRecord['skippedReasons'],
    actor: JSON.parse(row.actor) as Actor,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    error: row.error,
  };
}

/** `reasons` with `more` added. */
export function addReasons(
  reasons: RecoveryRecord['skippedReasons'],
  more: Map<SkipReason, number>,
): RecoveryRecord['skippedReasons'] {
  const out = { ...reasons };
  for (const [reason, n] of more) out[reason] = (out[reason] ?? 0) + n;
  return out;
}

/** A recovery that ends now: finished, and no process holds it any more. */
export function endedColumns(now: number) {
  return { finished_at: now, updated_at: now, lease_owner: null, lease_expires_at: null };
}
