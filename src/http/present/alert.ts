import type { Alert } from '../../domain/alerts/lifecycle.ts';
import { isoTimeOrNull as iso, isoTime } from './values.ts';

/** An alert as the API shows it; `units` maps unit ids to names. */
export function presentAlert(a: Alert, units: Map<string, string>) {
  const e = a.evidence;
  return {
    id: a.id,
    rule: a.rule,
    state: a.state,
    severity: a.severity,
    unit: a.unitId === null ? null : (units.get(a.unitId) ?? null),
    provider: a.provider,
    fault: a.fault,
    summary: a.summary,
    hint: a.hint,
    started_at: isoTime(a.startedAt),
    ended_at: iso(a.endedAt),
    last_notified_at: isoTime(a.lastNotifiedAt),
    evidence: {
      count: e.count,
      threshold: e.threshold,
      since: iso(e.since),
      top_errors: e.topErrors.map((t) => ({
        error_class: t.errorClass,
        count: t.count,
        sample: t.sample,
      })),
      provider: e.provider
        ? {
            name: e.provider.name,
            state: e.provider.state,
            reason: e.provider.reason,
            since: iso(e.provider.since),
          }
        : null,
      details: e.details,
    },
  };
}
