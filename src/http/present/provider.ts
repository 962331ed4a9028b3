import type { ProviderHealthReport } from '../../domain/ports/provider-health-store.ts';
import {
  type CredentialStatus,
  type ProviderState,
  WORKER_GONE_AFTER_MS,
  WORKER_STALE_AFTER_MS,
} from '../../domain/provider-circuit.ts';
import {
  describeProviderMismatch,
  freshReports,
  type ProviderMismatch,
  workersProviderMismatch,
  worstReport,
} from '../../domain/provider-health.ts';
import type { ProviderView } from '../deps.ts';
import type { Hold } from './message.ts';
import { integer, isoTime, isoTimeOrNull, text, textOrNull } from './values.ts';

/**
 * The configured provider as the workers see it, and whether the workers send through another
 * one, from one read of their reports: for `/readyz` and held messages.
 */
async function configuredView(view: ProviderView, now: number) {
  const reports = await view.health.list();
  return {
    provider: summarise(view.configured, freshReports(reports, now), now),
    mismatch: workersProviderMismatch(reports, view.configured, now),
  };
}

/** `configuredView` as `/readyz` shows it. */
export async function configuredProviderAndMismatch(view: ProviderView, now: number) {
  const { provider, mismatch } = await configuredView(view, now);
  return { provider, mismatch: presentMismatch(mismatch) };
}

/** `workers_provider_mismatch` of `/readyz` and `GET /v1/providers`. */
export function presentMismatch(m: ProviderMismatch | null) {
  if (!m) return null;
  return {
    configured: text(m.configured),
    workers: m.workers.map((w) => ({ provider: text(w.provider), count: integer(w.count) })),
    detail: describeProviderMismatch(m),
  };
}

/**
 * Why a due message waits although nothing is wrong with it, or null when the provider is
 * healthy: shown as `held_reason` on queued messages, so they do not look merely slow.
 */
export function holdReason(
  provider: ReturnType<typeof summarise>,
  mismatch: ProviderMismatch | null,
): string | null {
  if (provider.state === 'healthy') return null;
  // Workers on another provider: this process's own (with no worker, or not all of them) cannot
  // say why mail waits, and "is a worker running?" would send the reader to the wrong place.
  if (mismatch) {
    return `workers send through ${mismatch.workers.map((w) => w.provider).join(', ')}, but this API process is configured with TEGAMI_PROVIDER=${mismatch.configured}: give every process the same TEGAMI_PROVIDER`;
  }
  if (provider.state === 'unknown') {
    return `no worker has reported for provider ${provider.name} in the last ${WORKER_GONE_AFTER_MS / 1000} s: is a worker running?`;
  }
  const since = provider.since ? ` since ${provider.since}` : '';
  const next = provider.next_check_at ? `; next check at ${provider.next_check_at}` : '';
  return `provider ${provider.name} is ${provider.state}${since}: ${provider.reason ?? 'no reason given'}; queued mail waits${next}`;
}

/** Refused beats the rest (one worker with a bad key is worth a look), then the newest. */
function credentialsOf(reports: ProviderHealthReport[]) {
  let chosen: CredentialStatus | null = null;
  for (const report of reports) {
    const c = report.snapshot.credentials ?? null;
    if (!c) continue;
    const refused = (x: CredentialStatus) => x.result === 'refused';
    if (
      !chosen ||
      (refused(c) && !refused(chosen)) ||
      (refused(c) === refused(chosen) && c.checkedAt > chosen.checkedAt)
    )
      chosen = c;
  }
  return chosen
    ? { result: chosen.result, detail: chosen.detail, checked_at: isoTime(chosen.checkedAt) }
    : null;
}

export function summarise(name: string, all: ProviderHealthReport[], now: number) {
  const reports = all.filter((r) => r.provider === name);
  const worst = worstReport(reports, name);
  const errors = new Map<string, { count: number; lastAt: number; lastDetail: string | null }>();
  for (const report of reports) {
    for (const e of report.snapshot.recentErrors) {
      const known = errors.get(e.errorClass);
      if (!known) errors.set(e.errorClass, { ...e });
      else {
        known.count += e.count;
        if (e.lastAt > known.lastAt)
          Object.assign(known, { lastAt: e.lastAt, lastDetail: e.lastDetail });
      }
    }
  }
  const state: ProviderState | 'unknown' = worst?.snapshot.state ?? 'unknown';
  // Rows are read defensively (values.ts): one odd row must not fail the whole view.
  return {
    name: text(name),
    state: text(state),
    reason: textOrNull(worst?.snapshot.reason) ?? (worst ? null : 'no worker is running'),
    since: isoTimeOrNull(worst?.snapshot.since ?? null),
    next_check_at: isoTimeOrNull(worst?.snapshot.nextCheckAt ?? null),
    credentials: credentialsOf(reports),
    accepted: integer(reports.reduce((sum, r) => sum + r.snapshot.accepted, 0)),
    failed: integer(reports.reduce((sum, r) => sum + r.snapshot.failed, 0)),
    provider_failed: integer(reports.reduce((sum, r) => sum + r.snapshot.providerFailed, 0)),
    recent_errors: [...errors.entries()]
      .sort((a, b) => b[1].lastAt - a[1].lastAt)
      .map(([errorClass, e]) => ({
        error_class: errorClass,
        count: integer(e.count),
        last_at: isoTime(e.lastAt),
        last_detail: textOrNull(e.lastDetail),
      })),
    workers: reports.map((r) => ({
      worker: text(r.reporter),
      state: text(r.snapshot.state),
      reason: textOrNull(r.snapshot.reason),
      since: isoTimeOrNull(r.snapshot.since),
      next_check_at: isoTimeOrNull(r.snapshot.nextCheckAt),
      updated_at: isoTime(r.updatedAt),
      // Written so that a stored time that is not a number counts as stale.
      stale: !(now - r.updatedAt <= WORKER_STALE_AFTER_MS),
    })),
  };
}

/** The provider's hold on due mail, looked up once per request; none without provider health. */
export async function currentHold(
  view: ProviderView | undefined,
  now: number,
): Promise<Hold | undefined> {
  if (!view) return undefined;
  try {
    const { provider, mismatch } = await configuredView(view, now);
    return { reason: holdReason(provider, mismatch), now };
  } catch {
    // The message itself was read; a hint that cannot be had must not fail the request.
    return undefined;
  }
}
