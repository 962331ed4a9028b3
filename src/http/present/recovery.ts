import type { RecoveryOutcome, RecoveryRecord } from '../../domain/operations/recovery.ts';
import type { OperationsService } from '../../domain/operations/service.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function presentRecovery(r: RecoveryRecord, units: Map<string, string>) {
  return {
    id: r.id,
    action: r.action,
    state: r.state,
    unit: r.unitId === null ? null : (units.get(r.unitId) ?? r.unitId),
    filter: r.filter,
    rate_per_s: r.ratePerS,
    matched: r.matched,
    done: r.done,
    skipped: r.skipped,
    skipped_reasons: r.skippedReasons as Record<string, number>,
    pending: Math.max(0, r.matched - r.done - r.skipped),
    started_by: r.actor,
    created_at: iso(r.createdAt) as string,
    updated_at: iso(r.updatedAt) as string,
    finished_at: iso(r.finishedAt),
    error: r.error,
  };
}

/** Recoveries with their units' names looked up together. */
export async function presentRecoveries(operations: OperationsService, records: RecoveryRecord[]) {
  const units = await operations.unitNames(records.flatMap((r) => (r.unitId ? [r.unitId] : [])));
  return records.map((r) => presentRecovery(r, units));
}

export function presentOutcome(outcome: RecoveryOutcome | null) {
  if (!outcome) return null;
  return {
    sent: outcome.sent,
    failed: outcome.failed,
    waiting: outcome.waiting,
    cancelled: outcome.cancelled,
    moved_on: outcome.movedOn,
  };
}
