import type { ProviderHealthReport } from '../../domain/ports/provider-health-store.ts';
import type { CircuitSnapshot, ProviderState } from '../../domain/provider-circuit.ts';
import { readJson } from '../engine/read-json.ts';
import type { ProviderHealthTable } from '../schema.ts';

export type Details = Omit<CircuitSnapshot, 'state' | 'reason' | 'since' | 'nextCheckAt'>;

/** A report as the columns of its row (all but the key: provider, reporter). */
export function toHealthColumns({ snapshot, updatedAt }: ProviderHealthReport) {
  const { state, reason, since, nextCheckAt, ...rest } = snapshot;
  const details: Details = rest;
  return {
    state,
    reason,
    since,
    next_check_at: nextCheckAt,
    details: JSON.stringify(details),
    updated_at: updatedAt,
  };
}

export function toHealthReport(row: ProviderHealthTable): ProviderHealthReport {
  return {
    provider: row.provider,
    reporter: row.reporter,
    updatedAt: row.updated_at,
    snapshot: {
      state: row.state as ProviderState,
      reason: row.reason,
      since: row.since,
      nextCheckAt: row.next_check_at,
      ...readDetails(row.details),
    },
  };
}

const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const timeOrNull = (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The stored counters and recent errors, read defensively: a row that does not hold what a
 * worker writes (edited by hand) shows as zeros, not as a failing `GET /v1/providers`.
 */
function readDetails(text: string): Details {
  const parsed = readJson(text);
  const details = isObject(parsed) ? parsed : {};
  const recent = Array.isArray(details.recentErrors) ? details.recentErrors.filter(isObject) : [];
  return {
    consecutiveFailures: count(details.consecutiveFailures),
    accepted: count(details.accepted),
    failed: count(details.failed),
    // Absent in the reports of workers of earlier releases, which counted every failure alike.
    providerFailed:
      typeof details.providerFailed === 'number'
        ? count(details.providerFailed)
        : count(details.failed),
    recentErrors: recent.map((e) => ({
      errorClass: String(e.errorClass ?? ''),
      count: count(e.count),
      lastAt: count(e.lastAt),
      lastDetail: typeof e.lastDetail === 'string' ? e.lastDetail : null,
    })),
    credentials: readCredentials(details.credentials),
    // Absent in the reports of workers of earlier releases: no evidence.
    answeredAt: timeOrNull(details.answeredAt),
    failedProbeSentAt: timeOrNull(details.failedProbeSentAt),
  };
}

function readCredentials(value: unknown): Details['credentials'] {
  if (!isObject(value)) return null;
  const { result, detail, checkedAt } = value;
  if (result !== 'valid' && result !== 'refused' && result !== 'unverified') return null;
  return {
    result,
    detail: typeof detail === 'string' ? detail : '',
    checkedAt: count(checkedAt),
  };
}
