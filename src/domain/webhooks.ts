import { createHmac } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

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

const REFUSED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  REFUSED.addSubnet(net, prefix, 'ipv6');
}

/**
 * Loopback, private, link-local, unique-local, CGNAT and "this network" addresses: where a
 * webhook must not go unless TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true.
 */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return isPrivateAddress(mapped[1]);
  const family = isIP(address);
  if (family === 4) return REFUSED.check(address, 'ipv4');
  if (family === 6) return REFUSED.check(address, 'ipv6');
  return true; // not an address at all: refuse
}
