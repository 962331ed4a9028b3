import type {
  AlertCondition,
  AlertEvidence,
  AlertFault,
  AlertRule,
  AlertSeverity,
} from './rules.ts';

/** An alert as stored: one rule for one unit or provider, from when it fired to when it ended. */
export interface Alert {
  id: string;
  key: string;
  rule: AlertRule;
  severity: AlertSeverity;
  state: 'firing' | 'resolved';
  unitId: string | null;
  provider: string | null;
  fault: AlertFault;
  summary: string;
  hint: string;
  evidence: AlertEvidence;
  startedAt: number;
  endedAt: number | null;
  lastNotifiedAt: number;
  updatedAt: number;
}

/** Why a notification is sent. */
export type NotificationKind = 'firing' | 'escalated' | 'repeat' | 'resolved' | 'test';

/** What one evaluation round does to one alert. */
export type AlertStep =
  | { kind: 'fire'; condition: AlertCondition }
  | {
      kind: 'update';
      alert: Alert;
      condition: AlertCondition;
      /** Whether this round notifies, and as what; null: the alert is only updated. */
      notify: 'escalated' | 'repeat' | null;
    }
  | { kind: 'resolve'; alert: Alert };

export interface LifecycleOptions {
  /** A condition must hold this long before it fires, and be gone this long before it resolves. */
  forMs: number;
  /** A firing alert is notified again this often. */
  repeatMs: number;
}

/**
 * The memory of one evaluator between rounds: since when a condition holds without having fired
 * yet, and since when a firing alert's condition is gone. Kept in the process: a new leader
 * starts counting again, which at worst delays a notification by `forMs`.
 */
export class AlertLifecycle {
  private readonly holdingSince = new Map<string, number>();
  private readonly clearSince = new Map<string, number>();
  /**
   * How bad each firing alert was when it was last notified, so that an alert flapping between
   * two severities (or a provider between paused and unavailable) escalates once, not at every
   * flip back. A new leader without this memory compares with the stored alert instead.
   */
  private readonly notifiedAs = new Map<string, Badness>();

  constructor(private readonly options: LifecycleOptions) {}

  /**
   * One round: the conditions holding now, the alerts firing now (from the database), and what to
   * do. Short flaps page once: a condition must hold `forMs` before it fires, and a firing alert
   * resolves only after its condition has been gone for `forMs`. A condition marked `keepsOnly`
   * keeps an alert that is firing or holding, and starts none.
   */
  step(conditions: AlertCondition[], firing: Alert[], now: number): AlertStep[] {
    const steps: AlertStep[] = [];
    const byKey = new Map(conditions.map((c) => [c.key, c]));
    const firingKeys = new Set(firing.map((a) => a.key));
    for (const alert of firing) {
      const condition = byKey.get(alert.key);
      if (condition) {
        this.clearSince.delete(alert.key);
        steps.push({
          kind: 'update',
          alert,
          condition,
          notify: worse(badness(condition), this.notifiedAs.get(alert.key) ?? badness(alert))
            ? 'escalated'
            : now - alert.lastNotifiedAt >= this.options.repeatMs
              ? 'repeat'
              : null,
        });
        const step = steps[steps.length - 1];
        if (step?.kind === 'update' && step.notify) {
          this.notifiedAs.set(alert.key, badness(condition));
        }
        continue;
      }
      const since = this.clearSince.get(alert.key) ?? now;
      this.clearSince.set(alert.key, since);
      if (now - since >= this.options.forMs) {
        this.clearSince.delete(alert.key);
        steps.push({ kind: 'resolve', alert });
      }
    }
    for (const condition of conditions) {
      if (firingKeys.has(condition.key)) continue;
      // It keeps what is open (firing, or holding for `forMs`) and opens nothing new.
      if (condition.keepsOnly && !this.holdingSince.has(condition.key)) continue;
      const since = this.holdingSince.get(condition.key) ?? now;
      this.holdingSince.set(condition.key, since);
      if (now - since >= this.options.forMs) {
        this.holdingSince.delete(condition.key);
        this.notifiedAs.set(condition.key, badness(condition));
        steps.push({ kind: 'fire', condition });
      }
    }
    // A condition that stopped holding before it fired starts from zero next time.
    for (const key of [...this.holdingSince.keys()]) {
      if (!byKey.has(key)) this.holdingSince.delete(key);
    }
    for (const key of [...this.clearSince.keys()]) {
      if (!firingKeys.has(key)) this.clearSince.delete(key);
    }
    for (const key of [...this.notifiedAs.keys()]) {
      if (!firingKeys.has(key) && !byKey.has(key)) this.notifiedAs.delete(key);
    }
    return steps;
  }
}

/** What makes an alert worse: its severity, and whether its provider is paused. */
interface Badness {
  critical: boolean;
  paused: boolean;
}

function badness(a: Pick<Alert, 'severity' | 'evidence'>): Badness {
  return { critical: a.severity === 'critical', paused: a.evidence.provider?.state === 'paused' };
}

/**
 * Whether a firing alert got worse than when it was last notified, in a way someone must hear
 * about now, not at the next repeat: its severity rose (a provider failing some attempts, then
 * none), or its provider became paused (an account problem, which does not pass by itself, after
 * an outage that would have).
 */
function worse(now: Badness, notified: Badness): boolean {
  return (now.critical && !notified.critical) || (now.paused && !notified.paused);
}
