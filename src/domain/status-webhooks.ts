import { createHmac, randomBytes } from 'node:crypto';
import type { Backoff } from './backoff.ts';

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

/** A new endpoint secret: 32 random bytes, base64url (43 characters). */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** How long a rotated-out secret may stay in force: 7 days at most, 24 hours by default. */
export const MAX_PREVIOUS_SECRET_SECONDS = 604_800;
export const DEFAULT_PREVIOUS_SECRET_SECONDS = 86_400;

/**
 * The two signature headers of one post.
 *
 * `single` is exactly one `v1=` entry, the format receivers have verified since before secrets
 * could be rotated (they compare the whole header): while a rotated-out secret is still in force
 * it is made with that one, because those receivers may not have the new secret yet; otherwise
 * with the current secret.
 *
 * `all` is one `v1=` entry per secret in force, comma-separated, the current secret's first: a
 * receiver that accepts any matching entry verifies with whichever of the secrets it holds, so it
 * can swap the old secret for the new one at any moment of the window.
 */
export function webhookSignatures(
  secrets: { current: string; previous: string | null },
  timestamp: number,
  body: string,
): { single: string; all: string } {
  const current = signWebhook(secrets.current, timestamp, body);
  if (secrets.previous === null) return { single: current, all: current };
  const previous = signWebhook(secrets.previous, timestamp, body);
  return { single: previous, all: `${current},${previous}` };
}

/** The longest wait between two tries of a status webhook. */
const RETRY_CAP_MS = 3600_000;

/**
 * How a status webhook is retried: the delay doubles from `baseMs` (TEGAMI_WEBHOOKS_RETRY_BASE_MS)
 * up to an hour, with equal jitter (backoff.ts): never retried at once, and a burst of failures
 * spreads out.
 */
export function statusWebhookBackoff(baseMs: number): Backoff {
  return { baseMs, capMs: RETRY_CAP_MS, jitter: 'equal' };
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
