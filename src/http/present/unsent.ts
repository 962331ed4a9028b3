import type { UnsentSummary } from '../../domain/operations/service.ts';

/** The unsent view counted, as `GET /v1/unsent/summary` and `tegami unsent --json` show it. */
export function presentUnsentSummary(summary: UnsentSummary) {
  return {
    total: summary.total,
    by_reason: summary.byReason,
    by_unit: summary.byUnit,
    by_provider: summary.byProvider,
    by_error_class: summary.byErrorClass.map((e) => ({
      error_class: e.errorClass,
      count: e.count,
    })),
    oldest_waiting: summary.oldestWaiting
      ? {
          id: summary.oldestWaiting.id,
          due_since: new Date(summary.oldestWaiting.dueSince).toISOString(),
          age_s: Math.floor(summary.oldestWaiting.ageMs / 1000),
        }
      : null,
    oldest_pending: summary.oldestPending
      ? {
          id: summary.oldestPending.id,
          reason: summary.oldestPending.reason,
          due_since: new Date(summary.oldestPending.dueSince).toISOString(),
          age_s: Math.floor(summary.oldestPending.ageMs / 1000),
        }
      : null,
  };
}
