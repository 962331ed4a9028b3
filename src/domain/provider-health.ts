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

/** The worst view of `provider`: one worker that sees a paused account is worth an operator's look. */
export function worstReport(
  reports: ProviderHealthReport[],
  provider: string,
): ProviderHealthReport | null {
  let worst: ProviderHealthReport | null = null;
  for (const report of reports) {
    if (report.provider !== provider) continue;
    if (!worst || worseState(worst.snapshot.state, report.snapshot.state) !== worst.snapshot.state)
      worst = report;
  }
  return worst;
}

/** What to do about a paused provider, which (unlike an outage) does not recover by itself. */
export function pausedProviderAdvice(provider: string): string {
  return `An account problem (key revoked, sender not verified, quota) does not pass by itself: fix it at the provider, then POST /v1/providers/${provider}/probe.`;
}
