import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { DeliveryEvent } from '../../domain/types.ts';
import { TEGAMI_ID_ARG } from './mail-send-body.ts';

/**
 * SendGrid's Signed Event Webhook: an ECDSA P-256 signature (base64 DER, SHA-256) over the
 * timestamp header followed by the raw body bytes exactly as received. The public key is the
 * base64 DER (SubjectPublicKeyInfo) string SendGrid shows; a PEM key works too.
 */
export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

export function loadPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPublicKey(trimmed);
  return createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function checkSignature(
  key: KeyObject,
  signature: string | undefined,
  timestamp: string | undefined,
  body: Buffer,
  now: number,
  maxAgeMs: number,
): SignatureCheck {
  if (!signature || !timestamp) return { ok: false, reason: 'the request is not signed' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'the timestamp is not a number' };
  const age = now - Number(timestamp) * 1000;
  if (Math.abs(age) > maxAgeMs) {
    return {
      ok: false,
      reason: `the timestamp is ${Math.round(age / 1000)} s off (stale or replayed)`,
    };
  }
  let valid = false;
  try {
    valid = verify(
      'sha256',
      Buffer.concat([Buffer.from(timestamp, 'utf8'), body]),
      key,
      Buffer.from(signature, 'base64'),
    );
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: 'the signature does not match' };
}

const text = (value: unknown) => (typeof value === 'string' ? value : null);

/**
 * One raw SendGrid event to a `DeliveryEvent`, or null when it lacks what every event has (an
 * event name and an email). Unknown fields are kept in `raw`.
 */
export function normaliseEvent(raw: unknown, receivedAt: number): DeliveryEvent | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const fields = raw as Record<string, unknown>;
  const event = text(fields.event);
  const email = text(fields.email);
  if (!event || !email || event.length > 64 || email.length > 320) return null;
  const seconds =
    typeof fields.timestamp === 'number' ? fields.timestamp : Number(fields.timestamp);
  const occurredAt =
    Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : receivedAt;
  const sgMessageId = text(fields.sg_message_id);
  // Without SendGrid's event id, the event's own content is its identity: a resent copy of it
  // is still recognised as the same event.
  const eventId =
    text(fields.sg_event_id) ??
    createHash('sha256').update(JSON.stringify(fields)).digest('base64url');
  return {
    key: `sendgrid:${eventId}`,
    provider: 'sendgrid',
    event,
    email,
    occurredAt,
    messageId: text(fields[TEGAMI_ID_ARG]),
    providerMessageId: sgMessageId ? (sgMessageId.split('.')[0] ?? null) : null,
    bounceType: text(fields.type),
    raw: fields,
  };
}
