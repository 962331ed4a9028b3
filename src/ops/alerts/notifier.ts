import type { Logger } from 'pino';
import type {
  AlertStore,
  NotificationChannel,
  QueuedNotification,
} from '../../domain/ports/alert-store.ts';
import type { OutageReporter } from '../../domain/ports/outage-reporter.ts';
import type { OutboundPost, PostResult } from '../../domain/ports/outbound-post.ts';
import { webhookSignatures } from '../../domain/status-webhooks.ts';

/** Where notifications go: the global Slack channel, the units' own, the alert webhook. */
export interface NotificationTargets {
  /** TEGAMI_SLACK_WEBHOOK_URL. */
  slackWebhookUrl: string | null;
  /** TEGAMI_ALERT_WEBHOOK_URL and its signing secret, TEGAMI_ALERT_WEBHOOK_SECRET. */
  webhookUrl: string | null;
  webhookSecret: string | null;
}

/** The first retry after 5 s, doubling up to 5 minutes; given up after a day. */
const RETRY_BASE_MS = 5_000;
const RETRY_CAP_MS = 300_000;
const GIVE_UP_AFTER_MS = 24 * 3600_000;
const BATCH = 20;

export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

/**
 * Posts one notification to one destination: Slack takes the Block Kit JSON as it is; the alert
 * webhook is signed like status webhooks (`Tegami-Webhook-Signature`).
 */
export async function postNotification(
  post: OutboundPost,
  channel: NotificationChannel,
  url: string,
  payload: string,
  id: string,
  secret: string | null,
  now: number,
): Promise<PostResult> {
  if (channel === 'slack') return post(url, { 'user-agent': 'Tegami-Alerts/1' }, payload);
  const timestamp = Math.floor(now / 1000);
  const headers: Record<string, string> = {
    'user-agent': 'Tegami-Alerts/1',
    'Tegami-Webhook-Id': id,
    'Tegami-Webhook-Timestamp': String(timestamp),
  };
  if (secret) {
    // Both headers, as status webhooks carry them, so one verification serves both kinds of post.
    const signatures = webhookSignatures({ current: secret, previous: null }, timestamp, payload);
    headers['Tegami-Webhook-Signature'] = signatures.single;
    headers['Tegami-Webhook-Signatures'] = signatures.all;
  }
  return post(url, headers, payload);
}

export interface NotifierDeps {
  store: AlertStore;
  /** For URLs an API key set (a unit's Slack channel): private destinations refused. */
  post: OutboundPost;
  /** For URLs the operator configured in the environment: trusted like the provider's URL. */
  postTrusted: OutboundPost;
  targets: NotificationTargets;
  logger: Logger;
  outage: OutageReporter;
  clock: () => number;
}

/**
 * Sends queued alert notifications, retrying with backoff. It runs apart from the rules: a Slack
 * that hangs delays its own notifications, never the next evaluation.
 */
export class AlertNotifier {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly deps: NotifierDeps) {}

  /** Sends what is due now; returns when that pass is done. */
  wake(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass().then(
          () => this.deps.outage.succeeded('sending alert notifications'),
          (err: unknown) => this.deps.outage.failed('sending alert notifications', err),
        );
      } while (this.again);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /**
   * Where a notification goes now: a URL, or why it goes nowhere. A unit's channel is read when
   * sending, so a URL changed or removed meanwhile is followed.
   */
  private async destination(
    n: QueuedNotification,
  ): Promise<{ url: string; post: OutboundPost } | { dropped: string } | null> {
    const { targets, store } = this.deps;
    const configured = (url: string | null) => (url ? { url, post: this.deps.postTrusted } : null);
    if (n.channel === 'webhook') return configured(targets.webhookUrl);
    if (n.unitId) {
      const settings = await store.unitSettingsOf(n.unitId);
      // A unit's copy of a provider's alert is that unit's alone: the global channel was told
      // the alert itself, and a fallback there would say it twice, under the unit's name.
      if (n.unitCopy && !settings?.slackWebhookUrl) {
        return { dropped: 'the unit has no Slack channel any more' };
      }
      // Muted meanwhile: its channel is paged no more, as the evaluator pages it no more; the
      // RESOLVED of what it was told still closes that.
      if (n.unitCopy && settings?.overrides.muted && n.kind !== 'resolved') {
        return { dropped: "the unit's alerts were muted" };
      }
      if (settings?.slackWebhookUrl) return { url: settings.slackWebhookUrl, post: this.deps.post };
    }
    // A unit's own alert whose channel was removed meanwhile: the global channel, where it would
    // have gone had the unit had no channel when it was queued.
    return configured(targets.slackWebhookUrl);
  }

  private async pass(): Promise<void> {
    const { store, clock } = this.deps;
    const due = await store.dueNotifications(clock(), BATCH);
    await Promise.all(due.map((n) => this.send(n)));
  }

  private async send(n: QueuedNotification): Promise<void> {
    const { store, clock, logger } = this.deps;
    if (n.superseded) {
      // A FIRING still being retried when its RESOLVED was queued (a slow or failing Slack):
      // sent now, it would be the channel's last word on an alert that is over.
      await store.notificationSuperseded(n.id);
      logger.info(
        { notification: n.id, alert: n.alertId, channel: n.channel, kind: n.kind },
        'alert notification not sent: a newer one of the same alert replaces it',
      );
      return;
    }
    const target = await this.destination(n);
    if (!target) {
      await store.notificationFailed(n.id, 'no destination is configured any more', null);
      return;
    }
    if ('dropped' in target) {
      // Dropped rows are not retried, so this is logged once; the unit is named by its id, its
      // URL (a credential) never.
      await store.notificationDropped(n.id, target.dropped);
      logger.info(
        { notification: n.id, alert: n.alertId, channel: n.channel, unit: n.unitId, kind: n.kind },
        `alert notification dropped: ${target.dropped}`,
      );
      return;
    }
    const result = await postNotification(
      target.post,
      n.channel,
      target.url,
      n.payload,
      n.id,
      this.deps.targets.webhookSecret,
      clock(),
    );
    const now = clock();
    const fields = { notification: n.id, alert: n.alertId, channel: n.channel, kind: n.kind };
    if (!result.error) {
      await store.notificationSent(n.id, now);
      logger.info(fields, 'alert notification sent');
      return;
    }
    const retryAt = now + retryDelayMs(n.attempts + 1);
    const giveUp = retryAt > n.createdAt + GIVE_UP_AFTER_MS;
    // The URL is a secret (a Slack webhook URL is its own credential): never logged.
    logger.warn({ ...fields, error: result.error, giveUp }, 'alert notification failed');
    await store.notificationFailed(n.id, result.error, giveUp ? null : retryAt);
  }
}
