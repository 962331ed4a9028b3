import type { ProviderHealthReport } from './ports/provider-health-store.ts';
import { WORKER_GONE_AFTER_MS, worseState } from './provider-circuit.ts';

/**
 * Reading the workers' views of a provider (published in ProviderHealthStore), the same way for
 * the API (`GET /v1/providers`, `held_reason`, `/readyz`) and the console.
 */

/** The views of workers that reported lately: the others are gone. */
export function freshReports(reports: ProviderHealthReport[], now: number): ProviderHealthReport[] {
  return reports.filter((r) => now - r.updatedAt <= WORKER_GONE_AFTER_MS);
}

/**
 * Whether another worker's view is newer evidence than `report`'s trouble: it became healthy
 * after this worker last saw the trouble (when it began, or the send of its last probe that
 * still failed) and the provider has answered it properly since. A worker sees the provider
 * recover only by sending something; one that has had nothing to send since another worker's
 * probe drained the held mail keeps its view of the outage (or pause) until its next message,
 * while the provider works. A worker whose probes go on failing (its own key revoked, its host
 * cut off) keeps counting whatever the others see.
 */
function outdatedBy(report: ProviderHealthReport, others: ProviderHealthReport[]): boolean {
  if (report.snapshot.state === 'healthy') return false;
  const lastSeen = Math.max(report.snapshot.since, report.snapshot.failedProbeSentAt ?? 0);
  return others.some(
    (other) =>
      other.snapshot.state === 'healthy' &&
      other.snapshot.since > lastSeen &&
      other.snapshot.answeredAt !== null &&
      other.snapshot.answeredAt >= other.snapshot.since,
  );
}

/**
 * The worst view of `provider`: one worker that sees a paused account is worth an operator's
 * look. A view another worker has seen the provider recover from since (`outdatedBy`) does not
 * count.
 */
export function worstReport(
  reports: ProviderHealthReport[],
  provider: string,
): ProviderHealthReport | null {
  const mine = reports.filter((r) => r.provider === provider);
  let worst: ProviderHealthReport | null = null;
  for (const report of mine) {
    if (outdatedBy(report, mine)) continue;
    if (!worst || worseState(worst.snapshot.state, report.snapshot.state) !== worst.snapshot.state)
      worst = report;
  }
  return worst;
}

/**
 * The API's request that has the workers probe `provider` now, as a hint names it: an interface
 * with its own way to ask (the console's Probe now) finds these words in a hint and says its own.
 */
export function probeRequest(provider: string): string {
  return `POST /v1/providers/${provider}/probe`;
}

/** What to do about a paused provider, which (unlike an outage) does not recover by itself. */
export function pausedProviderAdvice(provider: string): string {
  return `An account problem (key revoked, sender not verified, quota) does not pass by itself: fix it at the provider, then ${probeRequest(provider)}.`;
}

/**
 * The providers a probe may be asked for: the one this process is configured with and every one
 * a worker reports on (a worker left on another TEGAMI_PROVIDER is probed by its own name).
 */
export function probeableProviders(configured: string, reports: ProviderHealthReport[]): string[] {
  return [...new Set([configured, ...reports.map((r) => r.provider)])];
}

/**
 * Workers that send through another provider than the one a process is configured with (its
 * TEGAMI_PROVIDER): e.g. an API process left on `sandbox` beside workers on `sendgrid`. Such a
 * process describes the wrong provider (`/readyz`, `GET /v1/providers`), and its own provider
 * cannot explain held mail (`held_reason`, the console say the mismatch instead); every process
 * of a deployment must have the same TEGAMI_PROVIDER.
 */
export interface ProviderMismatch {
  configured: string;
  /** The other providers the workers that reported lately send through, with how many each. */
  workers: { provider: string; count: number }[];
}

/** The mismatch seen in the workers' reports of the last WORKER_GONE_AFTER_MS, or null. */
export function workersProviderMismatch(
  reports: ProviderHealthReport[],
  configured: string,
  now: number,
): ProviderMismatch | null {
  const others = new Map<string, Set<string>>();
  for (const report of freshReports(reports, now)) {
    if (report.provider === configured) continue;
    const reporters = others.get(report.provider) ?? new Set<string>();
    reporters.add(report.reporter);
    others.set(report.provider, reporters);
  }
  if (others.size === 0) return null;
  return {
    configured,
    workers: [...others]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([provider, reporters]) => ({ provider, count: reporters.size })),
  };
}

/** The workers' other providers with how many workers each: "sendgrid (2 workers), test (1 worker)". */
export function workersProviders(m: ProviderMismatch): string {
  return m.workers
    .map((w) => `${w.provider} (${w.count} worker${w.count === 1 ? '' : 's'})`)
    .join(', ');
}

/** The mismatch in one sentence, for the log and the API. */
export function describeProviderMismatch(m: ProviderMismatch): string {
  return `this process is configured with TEGAMI_PROVIDER=${m.configured}, but the workers that reported in the last ${WORKER_GONE_AFTER_MS / 1000} s send through ${workersProviders(m)}: /readyz and GET /v1/providers here describe ${m.configured}; give every process the same TEGAMI_PROVIDER`;
}
