import type { ProviderHealthReport, ProviderHealthStore } from '../../domain/ports.ts';
import {
  type CredentialStatus,
  HEALTH_REPORT_INTERVAL_MS,
  type ProviderState,
  worseState,
} from '../../domain/provider-circuit.ts';
import { ProviderListSchema } from '../schemas.ts';
import type { TypedApp } from '../typed-app.ts';

export interface ProviderView {
  /** The provider this deployment sends through. */
  configured: string;
  health: ProviderHealthStore;
  /** Sent messages with no delivery event yet (accepted, then silence). */
  countUnconfirmed?: (now: number) => Promise<number>;
}

/** A worker that has not reported for this long is shown as stale and left out of the summary. */
const STALE_AFTER_MS = 3 * HEALTH_REPORT_INTERVAL_MS;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * `GET /v1/providers`: each provider's health as the running workers see it, so an operator can
 * tell at a glance whether a failure is ours, the message's or the provider's.
 */
export function registerProviderRoutes(app: TypedApp, view: ProviderView, clock: () => number) {
  app.get(
    '/providers',
    {
      schema: {
        tags: ['providers'],
        summary: "Each provider's state: healthy, throttled, unavailable or paused, and why",
        response: { 200: ProviderListSchema },
      },
    },
    async () => {
      const now = clock();
      const reports = await view.health.list();
      const names = [...new Set([view.configured, ...reports.map((r) => r.provider)])];
      return {
        providers: names.map((name) => summarise(name, reports, now)),
        ...(view.countUnconfirmed
          ? { unconfirmed_messages: await view.countUnconfirmed(now) }
          : {}),
      };
    },
  );
}

/** The configured provider as the workers see it: for `/readyz` and held messages. */
export async function configuredProvider(view: ProviderView, now: number) {
  return summarise(view.configured, await view.health.list(), now);
}

/**
 * Why a due message waits although nothing is wrong with it, or null when the provider is
 * healthy: shown as `held_reason` on queued messages, so they do not look merely slow.
 */
export function holdReason(provider: ReturnType<typeof summarise>): string | null {
  if (provider.state === 'healthy') return null;
  if (provider.state === 'unknown') {
    return `no worker has reported for provider ${provider.name} in the last ${STALE_AFTER_MS / 1000} s: is a worker running?`;
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
    ? { result: chosen.result, detail: chosen.detail, checked_at: iso(chosen.checkedAt) as string }
    : null;
}

function summarise(name: string, all: ProviderHealthReport[], now: number) {
  const reports = all.filter((r) => r.provider === name);
  const fresh = reports.filter((r) => now - r.updatedAt <= STALE_AFTER_MS);
  // The worst view wins: one worker that sees a paused account is worth an operator's look.
  let worst: ProviderHealthReport | null = null;
  for (const report of fresh) {
    if (!worst || worseState(worst.snapshot.state, report.snapshot.state) !== worst.snapshot.state)
      worst = report;
  }
  const errors = new Map<string, { count: number; lastAt: number; lastDetail: string | null }>();
  for (const report of fresh) {
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
  return {
    name,
    state,
    reason: worst?.snapshot.reason ?? (worst ? null : 'no worker is running'),
    since: iso(worst?.snapshot.since ?? null),
    next_check_at: iso(worst?.snapshot.nextCheckAt ?? null),
    credentials: credentialsOf(fresh),
    accepted: fresh.reduce((sum, r) => sum + r.snapshot.accepted, 0),
    failed: fresh.reduce((sum, r) => sum + r.snapshot.failed, 0),
    recent_errors: [...errors.entries()]
      .sort((a, b) => b[1].lastAt - a[1].lastAt)
      .map(([errorClass, e]) => ({
        error_class: errorClass,
        count: e.count,
        last_at: iso(e.lastAt) as string,
        last_detail: e.lastDetail,
      })),
    workers: reports.map((r) => ({
      worker: r.reporter,
      state: r.snapshot.state,
      reason: r.snapshot.reason,
      since: iso(r.snapshot.since),
      next_check_at: iso(r.snapshot.nextCheckAt),
      updated_at: iso(r.updatedAt) as string,
      stale: now - r.updatedAt > STALE_AFTER_MS,
    })),
  };
}
