import type { Kysely } from 'kysely';
import type { Alert } from '../../domain/alerts/lifecycle.ts';
import type {
  AlertEvidence,
  AlertFault,
  AlertRule,
  AlertSeverity,
} from '../../domain/alerts/rules.ts';
import type { QueuedNotification } from '../../domain/ports/alert-store.ts';
import type { AlertTable, Database } from '../schema.ts';

const EMPTY_EVIDENCE: AlertEvidence = {
  count: 0,
  threshold: 0,
  since: null,
  topErrors: [],
  provider: null,
  details: {},
};

function evidenceOf(json: string): AlertEvidence {
  try {
    return { ...EMPTY_EVIDENCE, ...(JSON.parse(json) as AlertEvidence) };
  } catch {
    return EMPTY_EVIDENCE;
  }
}

export function toAlert(r: AlertTable): Alert {
  return {
    id: r.id,
    key: r.key,
    rule: r.rule as AlertRule,
    severity: r.severity as AlertSeverity,
    state: r.state === 'firing' ? 'firing' : 'resolved',
    unitId: r.unit_id,
    provider: r.provider,
    fault: r.fault as AlertFault,
    summary: r.summary,
    hint: r.hint,
    evidence: evidenceOf(r.evidence),
    startedAt: Number(r.started_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
    lastNotifiedAt: Number(r.last_notified_at),
    updatedAt: Number(r.updated_at),
  };
}

export function alertRow(a: Alert): AlertTable {
  return {
    id: a.id,
    key: a.key,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    unit_id: a.unitId,
    provider: a.provider,
    fault: a.fault,
    summary: a.summary,
    hint: a.hint,
    evidence: JSON.stringify(a.evidence),
    started_at: a.startedAt,
    ended_at: a.endedAt,
    last_notified_at: a.lastNotifiedAt,
    updated_at: a.updatedAt,
  };
}

export async function insertNotifications(
  trx: Kysely<Database>,
  notifications: QueuedNotification[],
): Promise<void> {
  if (notifications.length === 0) return;
  await trx
    .insertInto('alert_notifications')
    .values(
      notifications.map((n) => ({
        id: n.id,
        alert_id: n.alertId,
        kind: n.kind,
        channel: n.channel,
        unit_id: n.unitId,
        payload: n.payload,
        state: 'pending',
        attempts: 0,
        next_attempt_at: n.createdAt,
        last_error: null,
        created_at: n.createdAt,
        sent_at: null,
      })),
    )
    .execute();
}
