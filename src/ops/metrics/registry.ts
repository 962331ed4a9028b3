import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Alert } from '../../domain/alerts/lifecycle.ts';
import { UNDELIVERED_SHOWN_MS } from '../../domain/alerts/notifications.ts';
import type { Unit } from '../../domain/operations/units.ts';
import type { UndeliveredNotifications } from '../../domain/ports/alert-store.ts';
import type { MonitoringQueries } from '../../domain/ports/monitoring-queries.ts';
import type { ProviderHealthStore } from '../../domain/ports/provider-health-store.ts';
import type { Telemetry } from '../../domain/ports/telemetry.ts';
import { PROVIDER_STATES, WORKER_GONE_AFTER_MS } from '../../domain/provider-circuit.ts';
import { providerFacts } from '../alerts/gather-facts.ts';
import { logOutputFailures } from '../logger.ts';

/** What the cluster-wide gauges read from the database, whichever process is scraped. */
export interface ClusterSources {
  queries: MonitoringQueries;
  health: ProviderHealthStore;
  listUnits: () => Promise<Unit[]>;
  firingAlerts: () => Promise<Alert[]>;
  /** Alert notifications failing now, or given up since the time given (a day ago). */
  undeliveredNotifications?: (since: number) => Promise<UndeliveredNotifications[]>;
  /** Counts by unsent reason (the unsent view's summary, every unit). */
  unsentByReason: () => Promise<Record<string, number>>;
  configuredProvider: string;
  /** Database answers are reused this long, so frequent scrapes cost one read. */
  cacheMs: number;
  clock?: () => number;
  /**
   * Whether this process's database operations are failing now (its outage log): writes can
   * fail while reads, and so tegami_database_up, still work (a full disk under SQLite).
   */
  databaseFailing?: () => boolean;
}

export interface Metrics {
  telemetry: Telemetry;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<{ contentType: string; body: string }>;
}

/**
 * The process's metrics: its own counters (what this process did) and gauges of the whole
 * cluster read from the database (the same on every process: aggregate them with max, not sum).
 */
export function createMetrics(cluster: ClusterSources | null): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // Counted by unit id as messages come in, shown by unit name (units are never renamed).
  const acceptedByUnitId = new Map<string, number>();
  new Counter({
    name: 'tegami_messages_accepted_total',
    help: 'Messages accepted by the API (durable, answered 202), by unit',
    labelNames: ['unit'],
    registers: [registry],
    async collect() {
      const units = cluster ? await cluster.listUnits().catch(() => []) : [];
      const names = new Map(units.map((u) => [u.id, u.name]));
      this.reset();
      for (const [id, n] of acceptedByUnitId) this.inc({ unit: names.get(id) ?? id }, n);
    },
  });
  const handedOver = new Counter({
    name: 'tegami_messages_handed_over_total',
    help: "Accepted messages this process's worker sent without queueing them (tegami serve, while nothing waits)",
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'tegami_provider_attempts_total',
    help: 'Calls to a provider, by provider, outcome (accepted, retryable, permanent, unknown) and error class',
    labelNames: ['provider', 'outcome', 'error_class'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tegami_provider_call_duration_seconds',
    help: 'How long one call to a provider took',
    labelNames: ['provider', 'outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const events = new Counter({
    name: 'tegami_delivery_events_ingested_total',
    help: "Providers' delivery events received, by type (delivered, bounce, ...; duplicates included)",
    labelNames: ['type'],
    registers: [registry],
  });
  const statusWebhooks = new Counter({
    name: 'tegami_status_webhook_posts_total',
    help: 'Posts of status webhooks to applications, by result (delivered, retrying, failed)',
    labelNames: ['result'],
    registers: [registry],
  });

  new Counter({
    name: 'tegami_log_output_failures_total',
    help: 'Log output this process could not write to stdout (a full disk, say): failed writes (written again with the next line) and dropped lines (beyond 4 MiB waiting)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const trouble = logOutputFailures();
      this.reset();
      this.inc({ kind: 'failed_write' }, trouble.failedWrites);
      this.inc({ kind: 'dropped_line' }, trouble.droppedLines);
    },
  });

  const telemetry: Telemetry = {
    messagesAccepted: (unitId, count) =>
      acceptedByUnitId.set(unitId, (acceptedByUnitId.get(unitId) ?? 0) + count),
    messagesHandedOver: (count) => handedOver.inc(count),
    attemptFinished: (a) => {
      attempts.inc({ provider: a.provider, outcome: a.outcome, error_class: a.errorClass ?? '' });
      duration.observe({ provider: a.provider, outcome: a.outcome }, a.durationMs / 1000);
    },
    eventsIngested: (type, count) => events.inc({ type }, count),
    statusWebhookPosted: (result) => statusWebhooks.inc({ result }),
  };

  if (cluster) registerClusterGauges(registry, cluster);

  return {
    telemetry,
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

function registerClusterGauges(registry: Registry, s: ClusterSources): void {
  const clock = s.clock ?? Date.now;
  // One read of everything per cache period, shared by all gauges of a scrape.
  let cached: { at: number; value: Promise<ClusterReading> } | null = null;
  const read = (): Promise<ClusterReading> => {
    const now = clock();
    if (!cached || now - cached.at >= s.cacheMs) {
      const value = readCluster(s, now);
      cached = { at: now, value };
      // A failed read is not cached: the next scrape tries again.
      value.catch(() => {
        if (cached?.value === value) cached = null;
      });
    }
    return cached.value;
  };

  // The database may be away: the scrape still answers, with the process's own metrics, and says
  // so (tegami_database_up 0) instead of failing as a whole.
  let lastReadOk = true;
  const readOrNull = () =>
    read().then(
      (r) => {
        lastReadOk = true;
        return r;
      },
      () => {
        lastReadOk = false;
        return null;
      },
    );
  new Gauge({
    name: 'tegami_database_up',
    help: 'Whether the cluster-wide gauges could be read from the database at the last scrape',
    registers: [registry],
    async collect() {
      await readOrNull();
      this.set(lastReadOk ? 1 : 0);
    },
  });
  if (s.databaseFailing) {
    const failing = s.databaseFailing;
    new Gauge({
      name: 'tegami_database_operations_failing',
      help: "Whether this process's database operations (storing submissions, claiming, recording results) are failing now: 1 from the first failure until they work again",
      registers: [registry],
      collect() {
        this.set(failing() ? 1 : 0);
      },
    });
  }
  new Gauge({
    name: 'tegami_messages',
    help: 'Messages stored, by status and unit (cluster-wide, from the database)',
    labelNames: ['status', 'unit'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      for (const m of r.byStatus) this.set({ status: m.status, unit: m.unit }, m.count);
    },
  });
  new Gauge({
    name: 'tegami_oldest_unsent_age_seconds',
    help: 'Age of the oldest message not yet accepted by a provider, by unit (0: none waiting)',
    labelNames: ['unit'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      for (const [unit, age] of r.oldestAge) this.set({ unit }, age);
    },
  });
  new Gauge({
    name: 'tegami_unsent_messages',
    help: 'Messages in the unsent view, by reason (cluster-wide)',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      for (const [reason, n] of Object.entries(r.unsentByReason)) this.set({ reason }, n);
    },
  });
  new Gauge({
    name: 'tegami_unconfirmed_messages',
    help: 'Messages accepted by a provider with no delivery event since (cluster-wide)',
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (r) this.set(r.unsentByReason.unconfirmed ?? 0);
    },
  });
  new Gauge({
    name: 'tegami_dead_letters',
    help: 'Messages dead-lettered (status failed), by unit (cluster-wide)',
    labelNames: ['unit'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      for (const [unit, n] of r.deadLetters) this.set({ unit }, n);
    },
  });
  new Gauge({
    name: 'tegami_provider_state',
    help: 'Provider state as the live workers see it: 1 for the current state, 0 for the others',
    labelNames: ['provider', 'state'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      for (const p of r.providers) {
        for (const state of [...PROVIDER_STATES, 'unknown'] as const)
          this.set({ provider: p.name, state }, p.state === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'tegami_alerts_firing',
    help: 'Built-in alerts firing now, by rule, severity and unit ("" for provider-wide alerts)',
    labelNames: ['rule', 'severity', 'unit'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      for (const a of r.alerts) {
        const labels = { rule: a.rule, severity: a.severity, unit: a.unit };
        this.inc(labels, 1);
      }
    },
  });
  new Gauge({
    name: 'tegami_alert_notifications_undelivered',
    help: 'Alert notifications that did not reach their destination: failing and retried now (state retrying), or given up in the last 24 hours (state given_up), by channel (slack, webhook) and unit ("" for the global Slack channel and the alert webhook)',
    labelNames: ['channel', 'unit', 'state'],
    registers: [registry],
    async collect() {
      const r = await readOrNull();
      this.reset();
      if (!r) return;
      // Both channels always present, so "nothing fails" reads 0 rather than no series.
      for (const channel of ['slack', 'webhook'])
        for (const state of ['retrying', 'given_up']) this.set({ channel, unit: '', state }, 0);
      for (const n of r.notifications) {
        this.inc({ channel: n.channel, unit: n.unit, state: 'retrying' }, n.retrying);
        this.inc({ channel: n.channel, unit: n.unit, state: 'given_up' }, n.givenUp);
      }
    },
  });
}

interface ClusterReading {
  byStatus: { status: string; unit: string; count: number }[];
  oldestAge: Map<string, number>;
  unsentByReason: Record<string, number>;
  deadLetters: Map<string, number>;
  providers: { name: string; state: string }[];
  alerts: { rule: string; severity: string; unit: string }[];
  notifications: { channel: string; unit: string; retrying: number; givenUp: number }[];
}

async function readCluster(s: ClusterSources, now: number): Promise<ClusterReading> {
  const [units, byStatus, pending, unsent, reports, alerts, notifications] = await Promise.all([
    s.listUnits(),
    s.queries.countByStatusAndUnit(),
    s.queries.pending(now),
    s.unsentByReason(),
    s.health.list(),
    s.firingAlerts(),
    s.undeliveredNotifications?.(now - UNDELIVERED_SHOWN_MS) ?? [],
  ]);
  const name = new Map(units.map((u) => [u.id, u.name]));
  const unitName = (id: string | null) => (id === null ? '' : (name.get(id) ?? id));
  const oldestAge = new Map<string, number>(units.map((u) => [u.name, 0]));
  for (const p of pending) {
    const age = Math.max(0, (now - p.oldestSince) / 1000);
    const unit = unitName(p.unitId);
    oldestAge.set(unit, Math.max(oldestAge.get(unit) ?? 0, age));
  }
  const deadLetters = new Map<string, number>(units.map((u) => [u.name, 0]));
  for (const m of byStatus) {
    if (m.status === 'failed') deadLetters.set(unitName(m.unitId), m.count);
  }
  const live = reports.filter((r) => now - r.updatedAt <= WORKER_GONE_AFTER_MS);
  return {
    byStatus: byStatus.map((m) => ({ status: m.status, unit: unitName(m.unitId), count: m.count })),
    oldestAge,
    unsentByReason: unsent,
    deadLetters,
    providers: providerFacts(live, s.configuredProvider, null).map((p) => ({
      name: p.name,
      state: p.state,
    })),
    alerts: alerts.map((a) => ({ rule: a.rule, severity: a.severity, unit: unitName(a.unitId) })),
    notifications: notifications.map((n) => ({
      channel: n.channel,
      unit: unitName(n.unitId),
      retrying: n.retrying,
      givenUp: n.givenUp,
    })),
  };
}
