import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';

/**
 * The SendGrid event relay: an application that took SendGrid's Event Webhook itself keeps its
 * receiver. Tegami posts the delivery events of a unit's mail that came in through
 * `POST /v3/mail/send` to the unit's old URL, in SendGrid's format (a JSON array of SendGrid's
 * own events), signed as SendGrid signs: ECDSA P-256 with SHA-256 over the timestamp followed by
 * the body, base64 DER, in SendGrid's two headers. Each unit has its own key pair; its public key
 * is shown by the API and replaces SendGrid's verification key in the application's settings.
 */

export const RELAY_SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const RELAY_TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

/**
 * Events per post. SendGrid posts a batch when it reaches 768 KB or every 30 seconds; events are
 * under 2 KB each, so 300 stay under SendGrid's size while a backlog drains quickly.
 */
export const RELAY_BATCH_SIZE = 300;

/** The custom arg Tegami added to forwarded requests; the application never set it. */
const TEGAMI_ARG = 'tegami_message_id';

export interface RelayKeyPair {
  /** Base64 DER SubjectPublicKeyInfo: the verification key, as SendGrid shows its own. */
  publicKey: string;
  /** Base64 DER PKCS #8. */
  privateKey: string;
}

export function generateRelayKeyPair(): RelayKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
  };
}

/**
 * Whether a put of `keys` made the relay: a relay that was there keeps its own key pair, so only a
 * new one has the pair just generated.
 */
export function relayMadeWith(relay: { publicKey: string }, keys: RelayKeyPair): boolean {
  return relay.publicKey === keys.publicKey;
}

/** SendGrid's signature of a post: base64 DER ECDSA (SHA-256) over timestamp + body. */
export function signRelayPost(privateKey: string, timestamp: string, body: string): string {
  const key = createPrivateKey({
    key: Buffer.from(privateKey, 'base64'),
    format: 'der',
    type: 'pkcs8',
  });
  return sign('sha256', Buffer.from(timestamp + body, 'utf8'), key).toString('base64');
}

/**
 * An event as the application would have had it from SendGrid: without the custom arg Tegami
 * added, and with `sg_message_id` starting with the X-Message-Id Tegami answered (SendGrid's
 * own id for the forwarded request is another), keeping SendGrid's suffix after the first dot.
 */
export function relayedEvent(
  payload: Record<string, unknown>,
  xMessageId: string,
): Record<string, unknown> {
  const { [TEGAMI_ARG]: _, ...event } = payload;
  const sgMessageId = event.sg_message_id;
  if (typeof sgMessageId === 'string') {
    const dot = sgMessageId.indexOf('.');
    event.sg_message_id = dot < 0 ? xMessageId : `${xMessageId}${sgMessageId.slice(dot)}`;
  }
  return event;
}
