import { hostname } from 'node:os';
import type { Logger } from 'pino';
import {
  type Alert,
  AlertLifecycle,
  type NotificationKind,
} from '../../domain/alerts/lifecycle.ts';
import { alertWebhookPayload, slackMessage } from '../../domain/alerts/notifications.ts';
import {
  type AlertCondition,
  type AlertThresholds,
  evaluateRules,
  evidenceWhileFiring,
  type UnitAlertOverrides,
} from '../../domain/alerts/rules.ts';
import { providerAlertForUnit } from '../../domain/alerts/service.ts';
import { newId } from '../../domain/ids.ts';
import type { AlertStore, QueuedNotification } from '../../domain/ports/alert-store.ts';
import type { LeaderLease } from '../../domain/ports/maintenance-store.ts';
import type { OutageReporter } from '../../domain/ports/outage-reporter.ts';
import type { OutboundPost } from '../../domain/ports/outbound-post.ts';
import { startRounds } from '../rounds.ts';
import { type FactSources, gatherFacts } from './gather-facts.ts';
import { AlertNotifier, type NotificationTargets } from './notifier.ts';
import { ProviderRates } from './provider-rates.ts';

export interface AlertingOptions extends NotificationTargets {
  thresholds: AlertThresholds;
  /** A rule must hold this long before it fires, and be gone this long before it resolves. */
  forMs: number;
  repeatMs: number;
  intervalMs: number;
  /** TEGAMI_PUBLIC_URL, for links to the console. */
  publicUrl: string | null;
  /** TEGAMI_HEARTBEAT_URL: pinged every minute while the evaluator runs. */
  heartbeatUrl: string | null;
  /** Resolved alerts and sent notifications are kept this long. */
  retentionMs: number;
}

export interface AlertEvaluatorDeps {
  lease: (holder: string) => LeaderLease;
  store: AlertStore;
  sources: FactSources;
  /** Posts to URLs an API key set (guarded); `postTrusted` to those of the environment. */
  post: OutboundPost;
  postTrusted: OutboundPost;
  options: AlertingOptions;
  logger: Logger;
  outage: OutageReporter;
  clock?: () => number;
}

export interface AlertEvaluator {
  /** One round now (take or renew the lease; evaluate if held). True when it evaluated. */
  tick(): Promise<boolean>;
  /** Whether this process evaluates the rules (holds the lease). */
  readonly leader: boolean;
  stop(): Promise<void>;
}

const HEARTBEAT_EVERY_MS = 60_000;
const PRUNE_EVERY_MS = 3600_000;
/** Notifications due are looked for this often (besides right after each round). */
const NOTIFY_POLL_MS = 1_000;

/** How the evaluator tells its rounds and sends: one process of a cluster, by lease. */
export function startAlertEvaluator(deps: AlertEvaluatorDeps): AlertEvaluator {
  const clock = deps.clock ?? Date.now;
  const { options, store } = deps;
  const logger = deps.logger.child({ component: 'alerts' });
  const holder = `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 10)}`;
  const lease = deps.lease(holder);
  const leaseTtlMs = Math.max(30_000, 3 * options.intervalMs);
  const lifecycle = new AlertLifecycle({ forMs: options.forMs, repeatMs: options.repeatMs });
  const rates = new ProviderRates();
  const notifier = new AlertNotifier({
    store,
    post: deps.post,
    postTrusted: deps.postTrusted,
    targets: options,
    logger,
    outage: deps.outage,
    clock,
  });
  let leader = false;
  let lastHeartbeat = 0;
  let lastPrune = 0;
  let running: Promise<boolean> = Promise.resolve(false);
  let stopped = false;

  async function notificationsFor(
    alert: Alert,
    kind: NotificationKind,
    unitName: string | null,
  ): Promise<QueuedNotification[]> {
    const now = clock();
    const notice = { kind, alert, unitName, publicUrl: options.publicUrl, now };
    const out: QueuedNotification[] = [];
    const base = { alertId: alert.id, kind, attempts: 0, createdAt: now };
    // The unit's own channel when it has one (the notifier reads its URL when sending), else
    // the global one.
    const unitChannel = alert.unitId && unitsWithSlack.has(alert.unitId) ? alert.unitId : null;
    if (unitChannel || options.slackWebhookUrl) {
      out.push({
        ...base,
        id: newId('ntf'),
        channel: 'slack',
        unitId: unitChannel,
        payload: JSON.stringify(slackMessage(notice)),
      });
    }
    // Only provider_failing holds the units' mail up. Other alerts about every unit
    // (silent_event_webhook) are the operator's to fix, and their counts are every unit's.
    if (alert.rule === 'provider_failing' && alert.unitId === null) {
      for (const copy of await unitCopies(alert, kind)) {
        out.push({
          ...base,
          id: newId('ntf'),
          channel: 'slack',
          unitId: copy.unitId,
          payload: JSON.stringify(
            slackMessage({ ...notice, alert: copy.alert, unitName: copy.unitName }),
          ),
        });
      }
    }
    if (options.webhookUrl) {
      out.push({
        ...base,
        id: newId('ntf'),
        channel: 'webhook',
        unitId: alert.unitId,
        payload: JSON.stringify(alertWebhookPayload(notice)),
      });
    }
    return out;
  }

  /**
   * provider_failing in the own Slack channel of each unit whose mail waits on it, with that
   * unit's count only; its resolution goes to every unit channel that was told it fired (the
   * newest notification to each destination of a firing alert outlives the retention for this,
   * see pruneAlerts). A copy goes to its unit's channel or nowhere (see AlertNotifier).
   */
  async function unitCopies(
    alert: Alert,
    kind: NotificationKind,
  ): Promise<{ unitId: string; unitName: string; alert: Alert }[]> {
    if (kind === 'resolved') {
      const told = await store.unitChannelsNotified(alert.id);
      return told
        .filter((unitId) => unitsWithSlack.has(unitId))
        .map((unitId) => {
          const unitName = unitNames.get(unitId) ?? unitId;
          return { unitId, unitName, alert: providerAlertForUnit(alert, unitName, null) };
        });
    }
    return (
      waitingByUnit
        // A muted unit (maintenance) is not paged in its channel; the global channel still is.
        .filter((u) => u.pending > 0 && unitsWithSlack.has(u.unitId) && !mutedUnits.has(u.unitId))
        .map((u) => ({
          unitId: u.unitId,
          unitName: u.unitName,
          alert: providerAlertForUnit(alert, u.unitName, u.pending),
        }))
    );
  }

  let unitsWithSlack = new Set<string>();
  let mutedUnits = new Set<string>();
  /** Each unit's mail not yet handed to a provider, as the round's facts found it. */
  let waitingByUnit: { unitId: string; unitName: string; pending: number }[] = [];
  let unitNames = new Map<string, string>();

  /** The provider's own words for the top error classes, read only for alerts that fire. */
  async function withSamples(condition: AlertCondition): Promise<AlertCondition> {
    const topErrors = await Promise.all(
      condition.evidence.topErrors.map(async (e) =>
        e.sample
          ? e
          : {
              ...e,
              sample: await deps.sources.queries.errorSample(
                e.errorClass,
                condition.unitId,
                condition.rule === 'dead_letters',
              ),
            },
      ),
    );
    return { ...condition, evidence: { ...condition.evidence, topErrors } };
  }

  async function evaluate(now: number): Promise<void> {
    const settings = await store.unitSettings();
    unitsWithSlack = new Set(settings.filter((s) => s.slackWebhookUrl).map((s) => s.unitId));
    mutedUnits = new Set(settings.filter((s) => s.overrides.muted).map((s) => s.unitId));
    const overrides = new Map<string, UnitAlertOverrides>(
      settings.map((s) => [s.unitId, s.overrides]),
    );
    const facts = await gatherFacts(deps.sources, rates, options.thresholds.windowMs, now);
    const names = new Map(facts.units.map((u) => [u.unitId, u.unitName]));
    unitNames = names;
    waitingByUnit = facts.units;
    const conditions = evaluateRules(facts, options.thresholds, overrides);
    const firing = await store.firing();
    for (const step of lifecycle.step(conditions, firing, now)) {
      if (step.kind === 'fire') {
        const c = await withSamples(step.condition);
        const alert: Alert = {
          id: newId('alt'),
          key: c.key,
          rule: c.rule,
          severity: c.severity,
          state: 'firing',
          unitId: c.unitId,
          provider: c.provider,
          fault: c.fault,
          summary: c.summary,
          hint: c.hint,
          evidence: c.evidence,
          startedAt: now,
          endedAt: null,
          lastNotifiedAt: now,
          updatedAt: now,
        };
        const opened = await store.open(alert, await notificationsFor(alert, 'firing', c.unitName));
        if (opened) {
          logger.warn(
            {
              alert: alert.id,
              rule: c.rule,
              unit: c.unitName,
              provider: c.provider,
              fault: c.fault,
            },
            `alert firing: ${c.summary}`,
          );
        }
      } else if (step.kind === 'update') {
        const c = step.notify ? await withSamples(step.condition) : step.condition;
        const evidence = evidenceWhileFiring(c.rule, step.alert.evidence, c.evidence);
        const alert: Alert = {
          ...step.alert,
          severity: c.severity,
          fault: c.fault,
          summary: c.summary,
          hint: c.hint,
          evidence: step.notify
            ? evidence
            : { ...evidence, topErrors: mergeSamples(c, step.alert) },
          lastNotifiedAt: step.notify ? now : step.alert.lastNotifiedAt,
          updatedAt: now,
        };
        await store.save(
          alert,
          step.notify ? await notificationsFor(alert, step.notify, c.unitName) : [],
        );
      } else {
        const alert: Alert = { ...step.alert, state: 'resolved', endedAt: now, updatedAt: now };
        await store.save(
          alert,
          await notificationsFor(
            alert,
            'resolved',
            alert.unitId ? (names.get(alert.unitId) ?? null) : null,
          ),
        );
        logger.info({ alert: alert.id, rule: alert.rule }, `alert resolved: ${alert.summary}`);
      }
    }
    if (now - lastPrune >= PRUNE_EVERY_MS) {
      lastPrune = now;
      await store.prune(now - options.retentionMs);
    }
  }

  function heartbeat(now: number): void {
    if (!options.heartbeatUrl || now - lastHeartbeat < HEARTBEAT_EVERY_MS) return;
    lastHeartbeat = now;
    // A dead-man's switch: the monitor alerts when these stop. Never awaited by the round.
    void deps
      .postTrusted(options.heartbeatUrl, { 'user-agent': 'Tegami-Heartbeat/1' }, '{}')
      .then((result) => {
        if (result.error) logger.warn({ error: result.error }, 'heartbeat ping failed');
      });
  }

  async function round(): Promise<boolean> {
    // A round queued behind a long one when the stop came is not begun: it would take the lease.
    if (stopped) return false;
    const held = await lease.acquire(leaseTtlMs, clock());
    if (held !== leader) {
      leader = held;
      logger.info(
        { holder },
        held ? 'evaluating alert rules (took the lease)' : 'lost the alerts lease',
      );
    }
    if (!held) return false;
    const now = clock();
    await evaluate(now);
    heartbeat(now);
    void notifier.wake();
    return true;
  }

  const tick = () => {
    running = running.then(round).then(
      (held) => {
        deps.outage.succeeded('evaluating alert rules');
        return held;
      },
      (err: unknown) => {
        deps.outage.failed('evaluating alert rules', err);
        return false;
      },
    );
    return running;
  };
  // Never two rounds at once, and one (not a burst) after a long one: see ops/rounds.ts.
  const rounds = startRounds(options.intervalMs, tick);
  const notifyTimer = setInterval(() => {
    if (leader && !stopped) void notifier.wake();
  }, NOTIFY_POLL_MS);
  notifyTimer.unref();

  return {
    tick,
    get leader() {
      return leader;
    },
    async stop() {
      stopped = true;
      rounds.cancel();
      clearInterval(notifyTimer);
      await running;
      await notifier.wake().catch(() => {});
      if (leader) await lease.release().catch(() => {});
    },
  };
}

/** Keeps the samples already found for an alert's error classes when only counts change. */
function mergeSamples(c: AlertCondition, previous: Alert) {
  const known = new Map(previous.evidence.topErrors.map((e) => [e.errorClass, e.sample]));
  return c.evidence.topErrors.map((e) => ({
    ...e,
    sample: e.sample ?? known.get(e.errorClass) ?? null,
  }));
}
