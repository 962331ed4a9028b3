import { createHmac } from 'node:crypto';

/** Events an application can subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  'message.sent',
  'message.failed',
  'recipient.deferred',
  'recipient.delivered',
  'recipient.bounced',
  'recipient.blocked',
  'recipient.dropped',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** One status change, before it is addressed to endpoints. */
export interface WebhookEvent {
  type: WebhookEventType;
  messageId: string;
  /** The message's status, or the recipient's delivery status for `recipient.*`. */
  status: string;
  recipient?: { email: string; delivery_status: string };
}

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Retry delay after `attempts` failed attempts: doubling from `baseMs`, capped, full jitter. */
export function webhookRetryDelay(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  // Half fixed, half random: never retries at once, and spreads a burst of failures.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The status webhooks a change of a message's status emits: `message.sent` and
 * `message.failed`; other statuses (queued again, cancelled) emit none.
 */
export function statusWebhooksForMessage(messageId: string, status: string): WebhookEvent[] {
  if (status === 'sent') return [{ type: 'message.sent', messageId, status }];
  if (status === 'failed') return [{ type: 'message.failed', messageId, status }];
  return [];
}

/**
 * The status webhooks a change of a recipient's delivery status emits: one
 * `recipient.<status>` when the status itself changes. `accepted` (the provider has the mail)
 * emits none: `message.sent` already said so.
 */
export function statusWebhooksForRecipient(
  messageId: string,
  email: string,
  from: string | null,
  to: string,
): WebhookEvent[] {
  if (to === 'accepted' || to === from) return [];
  const type = `recipient.${to}`;
  if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type)) return [];
  return [
    {
      type: type as WebhookEventType,
      messageId,
      status: to,
      recipient: { email, delivery_status: to },
    },
  ];
}
