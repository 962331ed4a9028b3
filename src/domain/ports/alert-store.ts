import type { Alert, NotificationKind } from '../alerts/lifecycle.ts';
import type { AlertRule, UnitAlertOverrides } from '../alerts/rules.ts';
import type { AuditEvent } from '../operations/audit-event.ts';
import type { Priority } from '../priority.ts';

export type NotificationChannel = 'slack' | 'webhook';

/** A notification waiting to be sent (or retried). */
export interface QueuedNotification {
  id: string;
  alertId: string | null;
  kind: NotificationKind;
  channel: NotificationChannel;
  /** Whose Slack channel: a unit's own, or null for the global one. */
  unitId: string | null;
  payload: string;
  attempts: number;
  createdAt: number;
  /**
   * A newer notification of the same alert to the same channel exists (set by dueNotifications):
   * this one is out of date and is not sent, so a retried FIRING never lands after its RESOLVED.
   */
  superseded?: boolean;
  /**
   * A unit's copy of an alert about no unit (`provider_failing` in the own channel of a unit
   * whose mail waits; set by dueNotifications): it goes to that unit's channel or nowhere, never
   * to the global one, which has the alert itself.
   */
  unitCopy?: boolean;
}

/** Alert notifications that did not reach one destination: a channel, and a unit's own Slack. */
export interface UndeliveredNotifications {
  channel: NotificationChannel;
  /** A unit's own Slack channel; null for the global Slack channel and the alert webhook. */
  unitId: string | null;
  /** Failed at least once and still being retried. */
  retrying: number;
  /** Given up (a day of failures, or no destination any more) since the time asked about. */
  givenUp: number;
  /** The newest failure's error, as the notifier recorded it (never the URL, a credential). */
  lastError: string | null;
}

export interface AlertFilter {
  state?: 'firing' | 'resolved';
  rule?: AlertRule;
  /** Alerts of this unit; with `withGlobal`, also those about no unit (providers, webhooks). */
  unitId?: string;
  withGlobal?: boolean;
  startedAfter?: number;
  startedBefore?: number;
  /** Keyset paging: alerts with a smaller id (newest first). */
  beforeId?: string;
  limit: number;
}

/** A unit's own Slack channel, thresholds and sending limit (`PUT /v1/units/{id}`). */
export interface UnitAlertSettings {
  unitId: string;
  slackWebhookUrl: string | null;
  overrides: UnitAlertOverrides;
  /** Messages the unit may have accepted per minute; null: TEGAMI_UNIT_RATE_LIMIT_PER_MIN. */
  rateLimitPerMin: number | null;
  /** The priority of the unit's mail that sets none (and whose key has no default); null: normal. */
  defaultPriority: Priority | null;
  updatedAt: number;
}

/** Where alerts, their notifications and the units' alert settings are kept. */
export interface AlertStore {
  firing(): Promise<Alert[]>;
  /** Inserts a firing alert; false if one with its key already fires (another evaluator won). */
  open(alert: Alert, notifications: QueuedNotification[]): Promise<boolean>;
  /** Saves new evidence (and a repeat's notifications, or a resolution's). */
  save(alert: Alert, notifications: QueuedNotification[]): Promise<void>;
  list(filter: AlertFilter): Promise<Alert[]>;
  get(id: string): Promise<Alert | null>;
  /** Notifications due by `now`, oldest first. */
  dueNotifications(now: number, limit: number): Promise<QueuedNotification[]>;
  notificationSent(id: string, now: number): Promise<void>;
  /** A failed try: retried at `retryAt`, or given up (`retryAt` null). */
  notificationFailed(id: string, error: string, retryAt: number | null): Promise<void>;
  /** Not sent: a newer notification of the same alert and channel says what is true now. */
  notificationSuperseded(id: string): Promise<void>;
  /** Not sent, and not to be: its destination is gone (`reason`, with no secret in it). */
  notificationDropped(id: string, reason: string): Promise<void>;
  /** The units whose own Slack channel was queued a notification of this alert, not dropped. */
  unitChannelsNotified(alertId: string): Promise<string[]>;
  /** Destinations with notifications failing now, or given up since `since`. */
  undeliveredNotifications(since: number): Promise<UndeliveredNotifications[]>;
  unitSettings(): Promise<UnitAlertSettings[]>;
  unitSettingsOf(unitId: string): Promise<UnitAlertSettings | null>;
  /**
   * Applies `change` to a unit's settings as they are at that moment (a row is made if there is
   * none), so that changes made at the same time are all kept, and writes `audit` of what was
   * written in the same transaction; returns what was written.
   */
  changeUnitSettings(
    unitId: string,
    change: (current: UnitAlertSettings) => UnitAlertSettings,
    now: number,
    audit: (next: UnitAlertSettings) => AuditEvent,
  ): Promise<UnitAlertSettings>;
  /** Deletes resolved alerts and finished notifications older than `before`. */
  prune(before: number): Promise<number>;
}
