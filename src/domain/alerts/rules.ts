import { count } from '../count-words.ts';
import type { ProviderState } from '../provider-circuit.ts';
import { pausedProviderAdvice, probeRequest } from '../provider-health.ts';

/**
 * The built-in alert rules, as pure functions over facts read from the database. One process
 * (the leader) evaluates them every TEGAMI_ALERT_INTERVAL_MS; ops/alerts/evaluator.ts keeps the
 * state (pending, firing, resolved) and sends the notifications.
 *
 * | rule                   | fires when                                                          |
 * | ---------------------- | ------------------------------------------------------------------- |
 * | `delivery_delay`       | a unit's oldest message not yet accepted by a provider is older     |
 * |                        | than `delay_s` (TEGAMI_ALERT_DELAY_S, 10 minutes)                   |
 * | `provider_failing`     | a provider is unavailable or paused, throttled longer than          |
 * |                        | TEGAMI_ALERT_THROTTLED_S, or fails (on its side: not a refused      |
 * |                        | message) more than TEGAMI_ALERT_ERROR_RATE_PERCENT of at least      |
 * |                        | TEGAMI_ALERT_ERROR_RATE_MIN_ATTEMPTS attempts in 5 min, the newest  |
 * |                        | of which failed                                                     |
 * | `dead_letters`         | more than `dead_letters` messages of a unit failed in the last 5 min |
 * | `silent_event_webhook` | mail is accepted but no delivery event has come for 15 minutes      |
 * | `unconfirmed`          | more than `unconfirmed` messages of a unit are accepted, unconfirmed |
 */
export const ALERT_RULES = [
  'delivery_delay',
  'provider_failing',
  'dead_letters',
  'silent_event_webhook',
  'unconfirmed',
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

export const ALERT_SEVERITIES = ['critical', 'warning'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const ALERT_STATES = ['firing', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/**
 * Whose fault it is, said in the alert itself: the provider's (outage, throttling, account), the
 * message's (the provider refused what was sent: a payload bug, a bad address), or Tegami's own
 * (nothing is sending although the provider is fine: no worker, a stuck database).
 */
export type AlertFault = 'provider' | 'message' | 'tegami';

/** Thresholds; every unit may override the per-unit ones (`PUT /v1/units/{id}`). */
export interface AlertThresholds {
  /** delivery_delay: the oldest unsent message is older than this. */
  delayMs: number;
  /** provider_failing: throttled for longer than this. */
  throttledMs: number;
  /** provider_failing: failed share of attempts in the window above this (0..1). */
  errorRate: number;
  errorRateMinAttempts: number;
  /** The window of the error rate and of dead_letters. */
  windowMs: number;
  /** dead_letters: more than this many newly failed in the window. */
  deadLetters: number;
  /** silent_event_webhook: accepted mail and no delivery event for this long. */
  silentWebhookMs: number;
  /** unconfirmed: more than this many accepted and unconfirmed messages. */
  unconfirmed: number;
}

/** The per-unit overrides a unit may set; absent fields take the global value. */
export interface UnitAlertOverrides {
  delayMs?: number;
  deadLetters?: number;
  unconfirmed?: number;
  /** No alert about this unit fires (maintenance, a unit that sends nothing on purpose). */
  muted?: boolean;
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = {
  delayMs: 600_000,
  throttledMs: 600_000,
  errorRate: 0.2,
  errorRateMinAttempts: 20,
  windowMs: 300_000,
  deadLetters: 0,
  silentWebhookMs: 900_000,
  unconfirmed: 0,
};

/** A rule must hold this long before it fires, and be gone this long before it resolves. */
export const DEFAULT_ALERT_FOR_MS = 15_000;
/** A firing alert is notified again this often. */
export const DEFAULT_ALERT_REPEAT_MS = 3_600_000;
/** How often the rules are evaluated. */
export const DEFAULT_ALERT_INTERVAL_MS = 15_000;

export interface ErrorClassCount {
  errorClass: string;
  count: number;
  /** The provider's own words for one of them (its error text), when known. */
  sample: string | null;
}

/** One provider as the workers see it, with its attempts in the window. */
/** With no worker reporting, how long mail must have waited before provider_failing fires. */
const NO_WORKER_WAIT_MS = 60_000;

export interface ProviderFacts {
  name: string;
  /** `unknown` when no worker reports on it. */
  state: ProviderState | 'unknown';
  reason: string | null;
  since: number | null;
  /** Attempts in the error rate's window (since the provider was last healthy), refusals too. */
  attempts: number;
  /** Of them, those that failed on the provider's side (outage, throttling, account). */
  failures: number;
  /** Of them, those the provider refused for the message itself (a 400): not its failures. */
  refused: number;
  /** Whether the newest attempts the workers reported include a provider failure. */
  latestFailed: boolean;
  topErrors: ErrorClassCount[];
}

/** What the rules look at for one unit. */
export interface UnitFacts {
  unitId: string;
  unitName: string;
  /** Messages not yet accepted by a provider (queued, due scheduled, sending). */
  pending: number;
  /** When the oldest of them was due (created, or its send_at); null when none. */
  oldestPendingSince: number | null;
  /** Of the pending: counts by unsent reason (waiting, requeued, retrying, held, unknown_outcome). */
  pendingByReason: Record<string, number>;
  /** Error classes of the pending messages' last attempts (not of requeued ones). */
  pendingErrors: ErrorClassCount[];
  /** Newly failed in the window, and why. */
  deadLetters: number;
  deadLetterErrors: ErrorClassCount[];
  /** When the first of them failed; null when none did. */
  firstDeadLetterAt: number | null;
  /** Whether the newest dead letters failed on a provider fault rather than the message. */
  deadLettersProviderFault: boolean;
  unconfirmed: number;
}

export interface MonitoringFacts {
  now: number;
  /** The provider this deployment sends through. */
  configuredProvider: string;
  providers: ProviderFacts[];
  units: UnitFacts[];
  /** Whether delivery events can arrive at all (an Event Webhook is configured). */
  eventsExpected: boolean;
  /** The newest delivery event's arrival; null when none was ever received. */
  lastEventAt: number | null;
  /** Accepted by the provider since the last event, and when the first of them was. */
  acceptedSinceLastEvent: number;
  firstAcceptedSinceLastEvent: number | null;
}

/** A rule that holds now, with everything a person needs to act on it. */
export interface AlertCondition {
  /** Identifies one alert: the rule, for one unit or provider. */
  key: string;
  rule: AlertRule;
  severity: AlertSeverity;
  unitId: string | null;
  unitName: string | null;
  provider: string | null;
  fault: AlertFault;
  /** One line: what is wrong and how much. */
  summary: string;
  /** What to look at first. */
  hint: string;
  evidence: AlertEvidence;
  /**
   * The condition keeps an alert that is already open (firing, or holding for its
   * TEGAMI_ALERT_FOR_S) but opens none: an error rate whose failures are over.
   */
  keepsOnly?: boolean;
}

export interface AlertEvidence {
  /** The count the rule looked at (messages late, dead letters, failed attempts, ...). */
  count: number;
  /** The threshold it crossed. */
  threshold: number;
  /** Since when (the oldest late message's due time, the provider state's start, ...). */
  since: number | null;
  topErrors: ErrorClassCount[];
  provider: { name: string; state: string; reason: string | null; since: number | null } | null;
  /** Rule-specific numbers (oldest_age_s, error_rate, attempts, ...). */
  details: Record<string, number | string | null>;
}

/**
 * The hints whose step is a request to the API, by name: read where the API is at hand (the API's
 * answer, Slack, the alert webhook). Named so that an interface with its own way to the same
 * step can say it in its own words; the rest of the hints say what to do without naming a way in.
 * A paused provider's hints name its probe request (probeRequest, with the provider's name, so
 * it is no constant here), which an interface can find in them and say in its own words too. A
 * silent Event Webhook's `POST /webhooks/sendgrid` is named for every reader: it is where
 * SendGrid must post, set at SendGrid.
 */
export const API_STEP_HINTS = {
  heldByProvider: 'mail is held back by the provider state; check GET /v1/providers',
  noWorker:
    'start a worker (tegami worker or tegami serve) and check it keeps running; GET /v1/providers lists the live workers',
  deadLetters:
    'find them with GET /v1/unsent?reason=failed; once the cause is fixed, recover them with POST /v1/recoveries (dry run first)',
  unconfirmed:
    'GET /v1/unsent?reason=unconfirmed lists them; if many, the Event Webhook may be losing events',
} as const;

const minutes = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
};

function providerEvidence(p: ProviderFacts | undefined): AlertEvidence['provider'] {
  return p ? { name: p.name, state: p.state, reason: p.reason, since: p.since } : null;
}

/**
 * Error classes that are the provider's side (outage, throttling, account) rather than ours. A
 * request that got no HTTP answer is classed by its network error code as it is
 * (providers/sendgrid/classify-response.ts: `ECONNRESET`, `ECONNREFUSED`, `ENOTFOUND`,
 * `UND_ERR_HEADERS_TIMEOUT`, `UND_ERR_CONNECT_TIMEOUT`, `abandoned`, ...): those are the
 * provider's (or the network's) too, never the message's.
 */
function isProviderError(errorClass: string): boolean {
  return /^(http_5\d\d|http_408|http_429|http_401|http_403|timeout|network|connection|reset|unknown|abandoned|E[A-Z]{3,}$|UND_ERR_)/.test(
    errorClass,
  );
}

/** Whose fault a unit's late mail is, and the hint that goes with it. */
export function delayFault(
  unit: UnitFacts,
  provider: ProviderFacts | undefined,
): { fault: AlertFault; hint: string } {
  if (provider && provider.state !== 'healthy' && provider.state !== 'unknown') {
    const state = `provider ${provider.name} is ${provider.state}: ${provider.reason ?? 'no reason given'}.`;
    return {
      fault: 'provider',
      hint:
        provider.state === 'paused'
          ? `${state} ${pausedProviderAdvice(provider.name)} Mail is held until then.`
          : `${state} Mail is held and drains by itself when it recovers.`,
    };
  }
  if (!provider || provider.state === 'unknown') {
    // Before the held mail: mail held by an outage earlier stays `held`, and while no worker
    // runs the provider's state is unknown, not the reason nothing is sent.
    return {
      fault: 'tegami',
      hint: 'no delivery worker reports: start a worker (tegami worker or tegami serve)',
    };
  }
  if ((unit.pendingByReason.held ?? 0) > 0) {
    return { fault: 'provider', hint: API_STEP_HINTS.heldByProvider };
  }
  const top = unit.pendingErrors[0];
  if (
    top &&
    (unit.pendingByReason.retrying ?? 0) + (unit.pendingByReason.unknown_outcome ?? 0) > 0
  ) {
    if (top.errorClass === 'worker_lost') {
      // Set by the lease reaper (store/delivery/leases.ts): Tegami's own failure, not the mail's.
      return {
        fault: 'tegami',
        hint: 'a worker stopped (crashed or was killed) while sending; its mail waits for proof of delivery, then goes again. Find out why the worker stopped',
      };
    }
    return isProviderError(top.errorClass)
      ? { fault: 'provider', hint: `sends fail with ${top.errorClass} and are retried` }
      : {
          fault: 'message',
          hint: `the provider refuses these messages (${top.errorClass}): check what the application sends`,
        };
  }
  const requeued = unit.pendingByReason.requeued ?? 0;
  if (requeued > 0) {
    // Requeued dead letters count as late from when they were first due, hours ago perhaps.
    return {
      fault: 'tegami',
      hint: `requeued by a recovery or a retry and not sent yet: ${count(requeued, 'message')}, late since first due. A recovery with a rate sends at that rate; else workers are too few or stuck, or the database is slow`,
    };
  }
  return {
    fault: 'tegami',
    hint: 'the provider is healthy but mail waits: workers are too few, stuck, or the database is slow',
  };
}

function deliveryDelay(
  facts: MonitoringFacts,
  unit: UnitFacts,
  t: AlertThresholds,
): AlertCondition | null {
  if (unit.oldestPendingSince === null) return null;
  const age = facts.now - unit.oldestPendingSince;
  if (age <= t.delayMs) return null;
  const provider = facts.providers.find((p) => p.name === facts.configuredProvider);
  const { fault, hint } = delayFault(unit, provider);
  return {
    key: `delivery_delay:${unit.unitId}`,
    rule: 'delivery_delay',
    severity: 'critical',
    unitId: unit.unitId,
    unitName: unit.unitName,
    provider: provider?.name ?? facts.configuredProvider,
    fault,
    summary: `${count(unit.pending, 'message')} of unit ${unit.unitName} not sent; the oldest waits for ${minutes(age)} (threshold ${minutes(t.delayMs)})`,
    hint,
    evidence: {
      count: unit.pending,
      threshold: Math.round(t.delayMs / 1000),
      since: unit.oldestPendingSince,
      topErrors: unit.pendingErrors.slice(0, 3),
      provider: providerEvidence(provider),
      details: { oldest_age_s: Math.round(age / 1000), ...unit.pendingByReason },
    },
  };
}

/** How many units' names a provider alert lists before "and N more". */
const WAITING_UNITS_SHOWN = 5;

/**
 * Whose mail a provider problem holds up, most first ("booking 120, shop 14 and 2 more units"):
 * a provider alert is about every unit, and the person paged wants to know which applications'
 * customers are waiting without opening the console.
 */
function waitingMail(units: readonly UnitFacts[]): { messages: number; units: string } | null {
  const waiting = units.filter((u) => u.pending > 0).sort((a, b) => b.pending - a.pending);
  if (waiting.length === 0) return null;
  const shown = waiting.slice(0, WAITING_UNITS_SHOWN).map((u) => `${u.unitName} ${u.pending}`);
  const more = waiting.length - shown.length;
  return {
    messages: waiting.reduce((n, u) => n + u.pending, 0),
    units: more > 0 ? `${shown.join(', ')} and ${count(more, 'more unit')}` : shown.join(', '),
  };
}

function providerFailing(
  facts: MonitoringFacts,
  p: ProviderFacts,
  t: AlertThresholds,
): AlertCondition | null {
  const waiting = waitingMail(facts.units);
  /** Appended to the summary: whose mail waits, by unit. */
  const whoWaits = waiting
    ? `; ${count(waiting.messages, 'message')} waiting (${waiting.units})`
    : '';
  const base = {
    key: `provider_failing:${p.name}`,
    rule: 'provider_failing' as const,
    unitId: null,
    unitName: null,
    provider: p.name,
    fault: 'provider' as const,
  };
  const rate = p.attempts > 0 ? p.failures / p.attempts : 0;
  const evidence = (count: number, threshold: number): AlertEvidence => ({
    count,
    threshold,
    since: p.since,
    topErrors: p.topErrors.slice(0, 3),
    provider: providerEvidence(p),
    details: {
      attempts: p.attempts,
      failures: p.failures,
      refused: p.refused,
      error_rate: Math.round(rate * 1000) / 1000,
      waiting_messages: waiting?.messages ?? 0,
      waiting_units: waiting?.units ?? null,
    },
  });
  const stateFor = p.since === null ? 0 : facts.now - p.since;
  if (p.state === 'unknown') {
    // No live worker reports on the configured provider: nothing is being sent. Without this a
    // provider_failing alert that fired during an outage resolved (and /status turned 200) when
    // its last worker died, although the outage went on and nothing sent: a false all-clear.
    // Only while mail waits for it (due a minute or more ago): an API process started before
    // its workers, or one whose workers are stopped while nothing is queued, is not an incident.
    if (p.name !== facts.configuredProvider) return null;
    const overdue = facts.units.some(
      (u) =>
        u.pending > 0 &&
        u.oldestPendingSince !== null &&
        facts.now - u.oldestPendingSince >= NO_WORKER_WAIT_MS,
    );
    if (!overdue || !waiting) return null;
    return {
      ...base,
      fault: 'tegami',
      severity: 'critical',
      summary: `no delivery worker reports on provider ${p.name}: nothing is being sent${whoWaits}`,
      hint: API_STEP_HINTS.noWorker,
      evidence: evidence(waiting.messages, 0),
    };
  }
  if (p.state === 'unavailable' || p.state === 'paused') {
    return {
      ...base,
      severity: 'critical',
      summary: `provider ${p.name} is ${p.state}${p.since ? ` for ${minutes(stateFor)}` : ''}: ${p.reason ?? 'no reason given'}${whoWaits}`,
      hint:
        p.state === 'paused'
          ? `an account problem (key revoked, sender not verified, quota): fix it at the provider, then ${probeRequest(p.name)}`
          : 'the provider fails or does not answer; mail is held and drains by itself when it recovers',
      evidence: evidence(p.failures, 0),
    };
  }
  if (p.state === 'throttled' && stateFor > t.throttledMs) {
    return {
      ...base,
      severity: 'warning',
      summary: `provider ${p.name} has throttled sending for ${minutes(stateFor)}${p.reason ? `: ${p.reason}` : ''}${whoWaits}`,
      hint: 'the account sends more than its plan allows; mail waits for the rate limit to reset',
      evidence: evidence(p.failures, Math.round(t.throttledMs / 1000)),
    };
  }
  // The error rate is about a provider that looks healthy: while it is throttled (for less than
  // TEGAMI_ALERT_THROTTLED_S) the 429s are the throttling's, which pages only after that long.
  // It counts the provider's own failures: a message it refused (a 400) is that message's fault,
  // which the dead_letters alert tells, and one application's broken mail must not page as a
  // provider problem.
  if (p.state === 'healthy' && p.attempts >= t.errorRateMinAttempts && rate > t.errorRate) {
    return {
      ...base,
      severity: 'warning',
      summary: `provider ${p.name} failed ${p.failures.toLocaleString('en')} of ${count(p.attempts, 'attempt')} (${Math.round(rate * 100)}%) in the last ${minutes(t.windowMs)}${whoWaits}`,
      hint: p.topErrors[0]
        ? `most failures are ${p.topErrors[0].errorClass}`
        : 'look at the attempts of the waiting messages',
      evidence: evidence(p.failures, t.errorRate),
      // Failures followed by answers are over: a window that still holds them keeps an alert
      // already open, but later successes that bring the attempts up to the minimum must not
      // open one after the incident (a recovery's re-sends, minutes after a short outage).
      ...(p.latestFailed ? {} : { keepsOnly: true }),
    };
  }
  return null;
}

function deadLetters(unit: UnitFacts, t: AlertThresholds): AlertCondition | null {
  if (unit.deadLetters <= t.deadLetters) return null;
  const top = unit.deadLetterErrors[0];
  return {
    key: `dead_letters:${unit.unitId}`,
    rule: 'dead_letters',
    severity: 'warning',
    unitId: unit.unitId,
    unitName: unit.unitName,
    provider: null,
    fault: unit.deadLettersProviderFault ? 'provider' : 'message',
    summary: `${count(unit.deadLetters, 'message')} of unit ${unit.unitName} failed (dead-lettered) in the last ${minutes(t.windowMs)}${top ? `, most with ${top.errorClass}` : ''}`,
    hint: API_STEP_HINTS.deadLetters,
    evidence: {
      count: unit.deadLetters,
      threshold: t.deadLetters,
      since: unit.firstDeadLetterAt,
      topErrors: unit.deadLetterErrors.slice(0, 3),
      provider: null,
      details: {},
    },
  };
}

function silentEventWebhook(facts: MonitoringFacts, t: AlertThresholds): AlertCondition | null {
  if (!facts.eventsExpected || facts.firstAcceptedSinceLastEvent === null) return null;
  const silentFor = facts.now - facts.firstAcceptedSinceLastEvent;
  if (silentFor <= t.silentWebhookMs) return null;
  return {
    key: `silent_event_webhook:${facts.configuredProvider}`,
    rule: 'silent_event_webhook',
    severity: 'warning',
    unitId: null,
    unitName: null,
    provider: facts.configuredProvider,
    fault: 'provider',
    summary: `${count(facts.acceptedSinceLastEvent, 'message')} accepted by ${facts.configuredProvider} and no delivery event for ${minutes(silentFor)}`,
    hint: "the Event Webhook is broken or misconfigured: check it is enabled at the provider, points at this Tegami's POST /webhooks/sendgrid, and that its signing key matches",
    evidence: {
      count: facts.acceptedSinceLastEvent,
      threshold: Math.round(t.silentWebhookMs / 1000),
      since: facts.firstAcceptedSinceLastEvent,
      topErrors: [],
      provider: null,
      details: { last_event_at: facts.lastEventAt },
    },
  };
}

function unconfirmed(
  facts: MonitoringFacts,
  unit: UnitFacts,
  t: AlertThresholds,
): AlertCondition | null {
  if (!facts.eventsExpected || unit.unconfirmed <= t.unconfirmed) return null;
  return {
    key: `unconfirmed:${unit.unitId}`,
    rule: 'unconfirmed',
    severity: 'warning',
    unitId: unit.unitId,
    unitName: unit.unitName,
    provider: facts.configuredProvider,
    fault: 'provider',
    summary: `${count(unit.unconfirmed, 'message')} of unit ${unit.unitName} accepted by the provider and not confirmed by any delivery event since`,
    hint: API_STEP_HINTS.unconfirmed,
    evidence: {
      count: unit.unconfirmed,
      threshold: t.unconfirmed,
      since: null,
      topErrors: [],
      provider: null,
      details: {},
    },
  };
}

/** Every rule over the facts: the conditions that hold now. */
export function evaluateRules(
  facts: MonitoringFacts,
  thresholds: AlertThresholds,
  overrides: ReadonlyMap<string, UnitAlertOverrides> = new Map(),
): AlertCondition[] {
  const out: AlertCondition[] = [];
  for (const p of facts.providers) {
    const c = providerFailing(facts, p, thresholds);
    if (c) out.push(c);
  }
  const silent = silentEventWebhook(facts, thresholds);
  if (silent) out.push(silent);
  for (const unit of facts.units) {
    const o = overrides.get(unit.unitId) ?? {};
    if (o.muted) continue;
    const t: AlertThresholds = {
      ...thresholds,
      delayMs: o.delayMs ?? thresholds.delayMs,
      deadLetters: o.deadLetters ?? thresholds.deadLetters,
      unconfirmed: o.unconfirmed ?? thresholds.unconfirmed,
    };
    for (const c of [
      deliveryDelay(facts, unit, t),
      deadLetters(unit, t),
      unconfirmed(facts, unit, t),
    ])
      if (c) out.push(c);
  }
  return out;
}

/**
 * The evidence a firing alert takes from this round's condition. `dead_letters` counts a sliding
 * window, so the oldest of its dead letters leave it while it fires: its `since` (when the first
 * of them failed) stays the earliest it has shown, not the oldest still in the window.
 */
export function evidenceWhileFiring(
  rule: AlertRule,
  previous: AlertEvidence,
  next: AlertEvidence,
): AlertEvidence {
  if (rule !== 'dead_letters' || previous.since === null || next.since === null) return next;
  return previous.since < next.since ? { ...next, since: previous.since } : next;
}
