import { createHash, createPrivateKey, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { MAX_EVENT_DEPTH, nestedDeeperThan } from '../../domain/delivery-event-limits.ts';
import type { EventSource } from '../../domain/ports/event-source.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import { TEGAMI_ID_ARG } from './mail-send-body.ts';

/**
 * SendGrid's Signed Event Webhook: an ECDSA P-256 signature (base64 DER, SHA-256) over the
 * timestamp header followed by the raw body bytes exactly as received. The public key is the
 * base64 DER (SubjectPublicKeyInfo) string SendGrid shows; a PEM key works too.
 */
export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/**
 * A private key where the public key belongs. Node would derive the public key from it and check
 * signatures fine, leaving a private key in the environment, where only a public one should be.
 */
export class PrivateKeyGiven extends Error {
  constructor() {
    super('this is a private key');
  }
}

export function loadPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    // PKCS #8 (also encrypted), SEC1 (`EC PRIVATE KEY`), PKCS #1, OpenSSH.
    if (/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(trimmed)) throw new PrivateKeyGiven();
    return createPublicKey(trimmed);
  }
  const der = Buffer.from(trimmed, 'base64');
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (error) {
    if (isPrivateKeyDer(der)) throw new PrivateKeyGiven();
    throw error;
  }
}

function isPrivateKeyDer(der: Buffer): boolean {
  for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // not of this kind
    }
  }
  return false;
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
  if (!/^\d+$/.test(timestamp)) return { ok: false, reason: 'the timestamp is not a number' };
  if (timestamp.length > 12) {
    return { ok: false, reason: 'the timestamp is not in seconds since 1970 (milliseconds?)' };
  }
  // The signature first, then its age: a refusal then tells a signature that is wrong (the key,
  // or a changed body) from a right one that is too old (a replay, a clock off, or SendGrid's
  // published test vector, signed in 2020).
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
  if (!valid) return { ok: false, reason: 'the signature does not match' };
  const age = now - Number(timestamp) * 1000;
  if (Math.abs(age) > maxAgeMs) {
    return {
      ok: false,
      reason: `the signature is valid, but the timestamp is ${Math.round(age / 1000)} s off (stale or replayed)`,
    };
  }
  return { ok: true };
}

const text = (value: unknown) => (typeof value === 'string' ? value : null);

/**
 * Latest event time taken as given: the last millisecond of year 9999, so every stored time can be
 * shown as ISO 8601 and fits PostgreSQL's bigint. An event time outside 1970 to 9999 (or not a
 * number) is replaced by the time the event arrived; `raw` keeps the value as sent.
 */
export const LATEST_EVENT_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** SendGrid's ids are a few dozen characters; longer ones are not theirs (and index poorly). */
export const MAX_EVENT_ID_LENGTH = 256;

/** A lone surrogate cannot be written as UTF-8: such text would change on its way to the database. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text that can be stored as is: bounded, no NUL (PostgreSQL text cannot hold it), valid UTF-16. */
function storable(value: string | null, maxLength: number): boolean {
  return (
    value === null ||
    (value.length <= maxLength && !value.includes('\u0000') && !LONE_SURROGATE.test(value))
  );
}

/**
 * A decimal number as text: SendGrid's own examples show `timestamp` as a string at times. Not
 * whatever `Number()` takes: `"0x10"`, `"0b1"` and `"0o7"` are no seconds SendGrid would send,
 * and were taken as 16, 1 and 7 (a time in January 1970) instead of the time of receipt.
 */
const DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/** Epoch milliseconds of SendGrid's `timestamp` (Unix seconds), or null when it is not usable. */
export function eventTimeMs(timestamp: unknown): number | null {
  const seconds =
    typeof timestamp === 'number'
      ? timestamp
      : typeof timestamp === 'string' && DECIMAL.test(timestamp)
        ? Number(timestamp)
        : Number.NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) return null;
  const ms = Math.round(seconds * 1000);
  return ms <= LATEST_EVENT_TIME_MS ? ms : null;
}

/**
 * One raw SendGrid event to a `DeliveryEvent`, or null when it is not one we can store: it lacks
 * what every event has (an event name and an email), nests deeper than `MAX_EVENT_DEPTH`, or
 * carries an id that is too long or holds text no database can keep. Unknown fields are kept in
 * `raw`.
 */
export function normaliseEvent(raw: unknown, receivedAt: number): DeliveryEvent | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  if (nestedDeeperThan(raw, MAX_EVENT_DEPTH)) return null;
  const fields = raw as Record<string, unknown>;
  const event = text(fields.event);
  const email = text(fields.email);
  if (!event || !email || !storable(event, 64) || !storable(email, 320)) return null;
  const sgEventId = text(fields.sg_event_id);
  const sgMessageId = text(fields.sg_message_id);
  const messageId = text(fields[TEGAMI_ID_ARG]);
  for (const id of [sgEventId, sgMessageId, messageId]) {
    if (!storable(id, MAX_EVENT_ID_LENGTH)) return null;
  }
  // Without SendGrid's event id, the event's own content is its identity: a resent copy of it
  // is still recognised as the same event.
  const eventId =
    sgEventId ?? createHash('sha256').update(JSON.stringify(fields)).digest('base64url');
  return {
    key: `sendgrid:${eventId}`,
    provider: 'sendgrid',
    event,
    email,
    occurredAt: eventTimeMs(fields.timestamp) ?? receivedAt,
    messageId,
    providerMessageId: sgMessageId ? (sgMessageId.split('.')[0] ?? null) : null,
    bounceType: text(fields.type),
    raw: fields,
  };
}

/**
 * SendGrid posts a batch when it reaches 768 KB (or every 30 s), so 5 MiB leaves ample room. A
 * larger body is refused with 413 before it is read, and bounds the time one batch can hold the
 * process.
 */
export const EVENT_WEBHOOK_BODY_LIMIT = 5 * 1024 * 1024;

/**
 * SendGrid's Event Webhook as an `EventSource`. With a null `publicKey` (insecure mode, asked for
 * by name in the configuration) every request is taken as SendGrid's.
 */
export function sendgridEventSource(options: {
  publicKey: KeyObject | null;
  maxAgeMs: number;
}): EventSource {
  return {
    name: 'sendgrid',
    bodyLimit: EVENT_WEBHOOK_BODY_LIMIT,
    verify(request, now) {
      if (!options.publicKey) return { ok: true };
      return checkSignature(
        options.publicKey,
        request.header(SIGNATURE_HEADER),
        request.header(TIMESTAMP_HEADER),
        request.body,
        now,
        options.maxAgeMs,
      );
    },
    normalise: normaliseEvent,
  };
}
