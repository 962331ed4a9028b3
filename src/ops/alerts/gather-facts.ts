import type {
  ErrorClassCount,
  MonitoringFacts,
  ProviderFacts,
  UnitFacts,
} from '../../domain/alerts/rules.ts';
import type { Unit } from '../../domain/operations/units.ts';
import { unsentReason } from '../../domain/operations/unsent.ts';
import type { MonitoringQueries } from '../../domain/ports/monitoring-queries.ts';
import type {
  ProviderHealthReport,
  ProviderHealthStore,
} from '../../domain/ports/provider-health-store.ts';
import { WORKER_GONE_AFTER_MS } from '../../domain/provider-circuit.ts';
import { worstReport } from '../../domain/provider-health.ts';
import type { ProviderRates } from './provider-rates.ts';

/** How far back accepted mail is looked at for confirmations (as the unsent view does). */
const CONFIRMATION_LOOKBACK_MS = 48 * 3600_000;

export interface FactSources {
  queries: MonitoringQueries;
  health: ProviderHealthStore;
  listUnits: () => Promise<Unit[]>;
  configuredProvider: string;
  /** Whether delivery events can arrive (an Event Webhook is configured). */
  eventsExpected: boolean;
  unconfirmedAfterMs: number;
}

function countsByClass(entries: { errorClass: string | null; count: number }[]): ErrorClassCount[] {
  const map = new Map<string, number>();
  for (const e of entries) {
    if (!e.errorClass) continue;
    map.set(e.errorClass, (map.get(e.errorClass) ?? 0) + e.count);
  }
  return [...map]
    .map(([errorClass, count]) => ({ errorClass, count, sample: null }))
    .sort((a, b) => b.count - a.count);
}

/**
 * Each provider as the live workers see it: the worst state wins (of the views no other worker
 * has seen the provider recover from since; `worstReport`), errors are added up.
 */
export function providerFacts(
  reports: ProviderHealthReport[],
  configured: string,
  rates: ProviderRates | null,
  /**
   * With it, only error classes seen during what the alert is about are listed: since the state
   * began (unavailable, throttled, paused), or within the error rate's window since the provider
   * became healthy. Without it (the metrics), every recent error class.
   */
  incident: { now: number; ms: number } | null = null,
): ProviderFacts[] {
  const names = new Set([configured, ...reports.map((r) => r.provider)]);
  const out: ProviderFacts[] = [];
  for (const name of names) {
    const mine = reports.filter((r) => r.provider === name);
    const worst = worstReport(mine, name);
    const state = worst?.snapshot.state ?? 'unknown';
    // The circuit keeps error classes for 15 minutes: an outage that ended must not be named as
    // the cause of what follows it (a wave of 400s, a throttling, a revoked key).
    const relevantFrom = !incident
      ? 0
      : state === 'healthy'
        ? Math.max(worst?.snapshot.since ?? 0, incident.now - incident.ms)
        : (worst?.snapshot.since ?? 0);
    const errors = new Map<string, ErrorClassCount & { lastAt: number }>();
    for (const r of mine) {
      for (const e of r.snapshot.recentErrors) {
        if (e.lastAt < relevantFrom) continue;
        const known = errors.get(e.errorClass);
        if (!known) {
          errors.set(e.errorClass, {
            errorClass: e.errorClass,
            count: e.count,
            sample: e.lastDetail,
            lastAt: e.lastAt,
          });
        } else {
          known.count += e.count;
          if (e.lastAt > known.lastAt)
            Object.assign(known, { lastAt: e.lastAt, sample: e.lastDetail });
        }
      }
    }
    // The error rate is about a provider that looks healthy but fails too often: failures while
    // it was unavailable or throttled are that state's alert, so counting starts when it became
    // healthy again (and the alert ends with the outage instead of a window later).
    const healthySince = worst?.snapshot.state === 'healthy' ? worst.snapshot.since : 0;
    const window = rates?.window(name, healthySince) ?? {
      attempts: 0,
      failures: 0,
      refused: 0,
      latestFailed: false,
    };
    out.push({
      name,
      state,
      reason: worst?.snapshot.reason ?? null,
      since: worst?.snapshot.since ?? null,
      attempts: window.attempts,
      failures: window.failures,
      refused: window.refused,
      latestFailed: window.latestFailed,
      topErrors: [...errors.values()]
        .sort((a, b) => b.count - a.count)
        .map(({ errorClass, count, sample }) => ({ errorClass, count, sample })),
    });
  }
  return out;
}

/** Reads everything the rules look at, in a handful of index-backed queries. */
export async function gatherFacts(
  sources: FactSources,
  rates: ProviderRates,
  windowMs: number,
  now: number,
): Promise<MonitoringFacts> {
  const { queries } = sources;
  const reports = (await sources.health.list()).filter(
    (r) => now - r.updatedAt <= WORKER_GONE_AFTER_MS,
  );
  rates.observe(reports, now, windowMs);
  const [units, pending, dead] = await Promise.all([
    sources.listUnits(),
    queries.pending(now),
    queries.deadLettersSince(now - windowMs),
  ]);
  const unconfirmed = sources.eventsExpected
    ? await queries.unconfirmedByUnit(
        now - CONFIRMATION_LOOKBACK_MS,
        now - sources.unconfirmedAfterMs,
      )
    : new Map<string, number>();
  const unitFacts: UnitFacts[] = units.map((unit) => {
    const mine = pending
      .filter((p) => p.unitId === unit.id)
      .map((p) => ({
        ...p,
        // Never tried reads `waiting` here whatever its age: the alert counts all of it.
        reason: unsentReason({
          status: 'queued',
          lastOutcome: p.lastOutcome,
          lastProviderFault: p.lastProviderFault,
        }),
      }));
    const byReason: Record<string, number> = {};
    let oldest: number | null = null;
    for (const p of mine) {
      byReason[p.reason] = (byReason[p.reason] ?? 0) + p.count;
      if (oldest === null || p.oldestSince < oldest) oldest = p.oldestSince;
    }
    const deadMine = dead.filter((d) => d.unitId === unit.id);
    const deadCount = deadMine.reduce((n, d) => n + d.count, 0);
    const newestFault = deadMine.reduce((acc, d) => acc + (d.providerFault ? d.count : 0), 0);
    return {
      unitId: unit.id,
      unitName: unit.name,
      pending: mine.reduce((n, p) => n + p.count, 0),
      oldestPendingSince: oldest,
      pendingByReason: byReason,
      // A requeued message's error class is what it failed with before the operator's fix, not
      // why it waits now.
      pendingErrors: countsByClass(
        mine
          .filter((p) => p.reason !== 'requeued')
          .map((p) => ({ errorClass: p.lastErrorClass, count: p.count })),
      ),
      deadLetters: deadCount,
      deadLetterErrors: countsByClass(
        deadMine.map((d) => ({ errorClass: d.errorClass, count: d.count })),
      ),
      deadLettersProviderFault: deadCount > 0 && newestFault * 2 > deadCount,
      firstDeadLetterAt: deadMine.reduce<number | null>(
        (first, d) => (first === null || d.firstFailedAt < first ? d.firstFailedAt : first),
        null,
      ),
      unconfirmed: unconfirmed.get(unit.id) ?? 0,
    };
  });
  let lastEventAt: number | null = null;
  let accepted = { count: 0, first: null as number | null };
  if (sources.eventsExpected) {
    lastEventAt = await queries.lastEventAt();
    accepted = await queries.acceptedUnconfirmedAfter(
      lastEventAt ?? 0,
      now - CONFIRMATION_LOOKBACK_MS,
    );
  }
  return {
    now,
    configuredProvider: sources.configuredProvider,
    providers: providerFacts(reports, sources.configuredProvider, rates, { now, ms: windowMs }),
    units: unitFacts,
    eventsExpected: sources.eventsExpected,
    lastEventAt,
    acceptedSinceLastEvent: accepted.count,
    firstAcceptedSinceLastEvent: accepted.first,
  };
}
