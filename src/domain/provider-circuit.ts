import {
  type CredentialCheck,
  MAX_REQUESTED_WAIT_MS,
  type ProviderFault,
  type SendResult,
} from './types.ts';

/**
 * A provider's health as one worker sees it: a circuit breaker over provider-level failures.
 *
 * An outage, throttling or an account problem is the provider's state, not the messages' fault.
 * While the circuit is not healthy the worker claims nothing but one probe message every
 * `probeIntervalMs` (or `pauseCheckMs` while paused, or when the provider's Retry-After ends);
 * queued mail waits without using up its attempts. The first probe the provider answers
 * closes the circuit and the backlog drains at full speed at once.
 *
 * - healthy:     sending normally.
 * - unavailable: `failureThreshold` provider-level failures in a row (5xx, resets, timeouts).
 * - throttled:   the provider answered 429; wait for its Retry-After / rate-limit reset.
 * - paused:      401/403: a bad or revoked key, an unverified sender, a spent quota. Retrying every
 *                message would only dead-letter the whole queue, so we wait for a person.
 */
export const PROVIDER_STATES = ['healthy', 'throttled', 'unavailable', 'paused'] as const;
export type ProviderState = (typeof PROVIDER_STATES)[number];

export interface CircuitOptions {
  /** Provider-level failures in a row that open the circuit. */
  failureThreshold: number;
  /** How often to probe an unavailable provider. */
  probeIntervalMs: number;
  /** How often to probe a paused provider (account problem). */
  pauseCheckMs: number;
  /** Wait after a 429 that names no Retry-After. */
  defaultThrottleMs: number;
}

/**
 * Defaults (src/cli/config.ts reads TEGAMI_PROVIDER_* over them): the circuit opens after 10
 * provider-level failures in a row, probes an unavailable provider every 2 s and a paused one
 * every minute.
 */
export const DEFAULT_CIRCUIT_OPTIONS: CircuitOptions = {
  failureThreshold: 10,
  probeIntervalMs: 2_000,
  pauseCheckMs: 60_000,
  defaultThrottleMs: 1_000,
};

/**
 * What the worker may do now. Named for the worker's action, not the breaker's state (an open
 * breaker blocks, which would read backwards here).
 */
type Gate =
  /** The provider is healthy: claim and send as much as there is room for. */
  | { kind: 'send' }
  /** Send one message to find out whether the provider is back. */
  | { kind: 'probe' }
  /** Send nothing until `untilMs`: queued mail is held. */
  | { kind: 'hold'; untilMs: number };

interface RecentError {
  errorClass: string;
  count: number;
  lastAt: number;
  lastDetail: string | null;
}

/** The credential check's outcome, as the worker saw it. */
export interface CredentialStatus extends CredentialCheck {
  checkedAt: number;
}

export interface CircuitSnapshot {
  state: ProviderState;
  reason: string | null;
  since: number;
  nextCheckAt: number | null;
  consecutiveFailures: number;
  accepted: number;
  failed: number;
  /**
   * Of `failed`: the provider's own failures (an outage, throttling, an account problem), not
   * its refusals of one message (a 400). The error rate of the provider_failing alert counts
   * these alone.
   */
  providerFailed: number;
  recentErrors: RecentError[];
  /** What the credential check at start said; null until it answered (or with no check). */
  credentials: CredentialStatus | null;
  /**
   * When the provider last answered properly (a 202, or a refusal of the message itself):
   * evidence that it works, which other workers' older views of an outage give way to
   * (provider-health.ts). Null before the first such answer.
   */
  answeredAt: number | null;
  /**
   * When the last probe that found the provider still failing was sent (the send, not the
   * answer: a hung probe answers a timeout later). Trouble this worker saw again after another
   * worker's recovery keeps counting (provider-health.ts). Null before the first such probe.
   */
  failedProbeSentAt: number | null;
}

export interface Transition {
  from: ProviderState;
  to: ProviderState;
  reason: string | null;
}

/**
 * How often a worker re-publishes its view of a provider's health. The report is also the
 * worker's heartbeat: `GET /v1/providers` shows counts at most this old, and drops workers whose
 * heartbeat stopped (WORKER_GONE_AFTER_MS).
 */
export const HEALTH_REPORT_INTERVAL_MS = 1_000;

/** A report this old is shown as `stale`: the worker is late, and may be gone. */
export const WORKER_STALE_AFTER_MS = 3 * HEALTH_REPORT_INTERVAL_MS;

/**
 * A worker silent this long is taken to be gone (killed, crashed, its host lost) and left out of
 * the view. Ten heartbeats: a busy or briefly blocked worker is not dropped, a dead one is gone
 * within seconds instead of lingering.
 */
export const WORKER_GONE_AFTER_MS = 10 * HEALTH_REPORT_INTERVAL_MS;

/** Error classes seen in this window are shown as "recent". */
const RECENT_ERRORS_WINDOW_MS = 15 * 60_000;

const FAULT_STATE: Record<ProviderFault, ProviderState> = {
  outage: 'unavailable',
  rate_limited: 'throttled',
  account: 'paused',
};
/** When two faults compete, the one that needs more care wins. */
const SEVERITY: Record<ProviderState, number> = {
  healthy: 0,
  throttled: 1,
  unavailable: 2,
  paused: 3,
};

export function worseState(a: ProviderState, b: ProviderState): ProviderState {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

function describe(result: SendResult): string {
  return [result.errorClass, result.detail].filter(Boolean).join(': ') || 'provider failure';
}

export class ProviderCircuit {
  private state: ProviderState = 'healthy';
  private reason: string | null = null;
  private since: number;
  private nextCheckAt: number | null = null;
  private consecutiveFailures = 0;
  private accepted = 0;
  private failed = 0;
  private providerFailed = 0;
  private readonly recent = new Map<string, RecentError>();
  private credentials: CredentialStatus | null = null;
  private answeredAt: number | null = null;
  private failedProbeSentAt: number | null = null;

  constructor(
    private readonly options: CircuitOptions,
    now: number,
  ) {
    this.since = now;
  }

  get current(): ProviderState {
    return this.state;
  }

  /**
   * Whether mail that waited for a connection should still go out now: not while the circuit is
   * open, nor while provider-level failures are coming in (the circuit may be about to open)
   * and `othersInFlight` requests will tell more. With none in flight it goes: something must be
   * sent to learn whether the provider is back.
   */
  stillSendsAfterWaiting(othersInFlight: number): boolean {
    if (this.state !== 'healthy') return false;
    return this.consecutiveFailures === 0 || othersInFlight === 0;
  }

  /** What the worker may do now. */
  gate(now: number): Gate {
    if (this.state === 'healthy') return { kind: 'send' };
    const checkAt = this.nextCheckAt ?? now;
    if (now < checkAt) return { kind: 'hold', untilMs: checkAt };
    return { kind: 'probe' };
  }

  /**
   * A probe is being sent. The next one is due a full interval later even if this one has not
   * finished: a probe that hangs until its timeout must not delay noticing the recovery.
   */
  beginProbe(now: number): void {
    this.nextCheckAt = now + this.waitFor(this.state, undefined);
  }

  /** An operator asked for a probe now (they fixed the cause): the next look sends one. */
  probeNow(now: number): boolean {
    if (this.state === 'healthy') return false;
    this.nextCheckAt = now;
    return true;
  }

  /** The probe found nothing to send: try again at the next poll. */
  abandonProbe(now: number): void {
    this.nextCheckAt = now;
  }

  /**
   * Feeds the credential check's answer. Refused credentials pause the provider at once, before
   * a message is tried; the pause is checked like any other (a probe every `pauseCheckMs`). The
   * other answers change no state: sends are the better evidence.
   */
  recordCredentials(check: CredentialCheck, now: number): Transition | null {
    this.credentials = { ...check, checkedAt: now };
    if (check.result !== 'refused') return null;
    return this.moveTo('paused', check.detail, now + this.options.pauseCheckMs, now);
  }

  /**
   * Feeds one attempt's result; returns the state change it caused, if any. `sentAt`: when its
   * request was sent (`now` if not told).
   */
  record(result: SendResult, now: number, wasProbe: boolean, sentAt = now): Transition | null {
    const fault = result.providerFault;
    if (result.outcome === 'accepted' && this.credentials && this.credentials.result !== 'valid') {
      // Accepted mail proves the credentials work, whatever the check said earlier.
      this.credentials = { result: 'valid', detail: 'the provider accepted mail', checkedAt: now };
    }
    if (fault === 'account' && result.httpStatus === 401) {
      // A 401 to a send says as much as the check would (a key revoked since it ran): shown so.
      this.credentials = {
        result: 'refused',
        detail: `the provider refused the key when sending: ${describe(result)}`,
        checkedAt: now,
      };
    }
    if (!fault) {
      // The provider answered properly (a 202, or a 400 about the message itself): it is up.
      if (result.outcome === 'accepted') this.accepted++;
      else this.failed++;
      this.consecutiveFailures = 0;
      this.answeredAt = now;
      return this.moveTo('healthy', null, null, now);
    }

    this.failed++;
    this.providerFailed++;
    this.consecutiveFailures++;
    this.noteError(result, now);
    if (wasProbe) this.failedProbeSentAt = Math.max(this.failedProbeSentAt ?? sentAt, sentAt);
    const reason = describe(result);
    const target = FAULT_STATE[fault];
    if (fault === 'outage' && this.state === 'healthy') {
      if (this.consecutiveFailures < this.options.failureThreshold) return null;
    }
    if (this.state !== 'healthy' && !wasProbe && SEVERITY[target] <= SEVERITY[this.state]) {
      // A straggler that was in flight when the circuit opened: the state already says so.
      return null;
    }
    const next = wasProbe || this.state === 'healthy' ? target : worseState(this.state, target);
    return this.moveTo(next, reason, now + this.waitFor(next, result.retryAfterMs), now);
  }

  private waitFor(state: ProviderState, retryAfterMs: number | undefined): number {
    if (state === 'paused') return this.options.pauseCheckMs;
    // Bounded here too: a provider adapter other than SendGrid's may not bound it.
    if (state === 'throttled')
      return Math.min(retryAfterMs ?? this.options.defaultThrottleMs, MAX_REQUESTED_WAIT_MS);
    return this.options.probeIntervalMs;
  }

  snapshot(now: number): CircuitSnapshot {
    for (const [key, entry] of this.recent) {
      if (entry.lastAt < now - RECENT_ERRORS_WINDOW_MS) this.recent.delete(key);
    }
    return {
      state: this.state,
      reason: this.reason,
      since: this.since,
      nextCheckAt: this.nextCheckAt,
      consecutiveFailures: this.consecutiveFailures,
      accepted: this.accepted,
      failed: this.failed,
      providerFailed: this.providerFailed,
      recentErrors: [...this.recent.values()].sort((a, b) => b.lastAt - a.lastAt),
      credentials: this.credentials,
      answeredAt: this.answeredAt,
      failedProbeSentAt: this.failedProbeSentAt,
    };
  }

  private noteError(result: SendResult, now: number): void {
    const errorClass = result.errorClass ?? 'unknown';
    const entry = this.recent.get(errorClass);
    if (entry) {
      entry.count++;
      entry.lastAt = now;
      entry.lastDetail = result.detail ?? entry.lastDetail;
    } else {
      this.recent.set(errorClass, {
        errorClass,
        count: 1,
        lastAt: now,
        lastDetail: result.detail ?? null,
      });
    }
  }

  private moveTo(
    state: ProviderState,
    reason: string | null,
    nextCheckAt: number | null,
    now: number,
  ): Transition | null {
    const from = this.state;
    this.reason = reason;
    this.nextCheckAt = nextCheckAt;
    if (from === state) return null;
    this.state = state;
    this.since = now;
    return { from, to: state, reason };
  }
}
