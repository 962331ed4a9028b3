import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

// SendGrid's Signed Event Webhook: ECDSA P-256 (SHA-256) over the timestamp followed by the raw
// body, verified with the base64 SPKI public key that SendGrid shows in its settings.

export const SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

/** Loads an EC P-256 private key from PEM (PKCS#8 or SEC1) or base64 DER (PKCS#8 or SEC1). */
export function loadSigningKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.includes('-----BEGIN')) key = createPrivateKey(trimmed);
    else {
      const der = Buffer.from(trimmed, 'base64');
      try {
        key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      } catch {
        key = createPrivateKey({ key: der, format: 'der', type: 'sec1' });
      }
    }
  } catch {
    throw new Error('event signing key is not a PEM or base64 DER (PKCS#8) private key');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('event signing key must be an EC P-256 (prime256v1) private key');
  }
  return key;
}

/** A fresh P-256 key pair: the private key as base64 PKCS#8 DER, the public one as SPKI DER. */
export function generateSigningKey(): { privateKeyBase64: string; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyBase64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}

/** The verification key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo. */
export function publicKeyBase64Of(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64');
}

/** Base64 DER ECDSA (SHA-256) signature over the UTF-8 timestamp followed by the payload bytes. */
export function signPayload(privateKey: KeyObject, timestamp: string, payload: Buffer): string {
  const data = Buffer.concat([Buffer.from(timestamp, 'utf8'), payload]);
  return sign('sha256', data, privateKey).toString('base64');
}

/** Verifies a signature the way a receiver does, from the base64 public key string alone. */
export function verifySignature(
  publicKeyBase64: string,
  timestamp: string,
  payload: Buffer,
  signatureBase64: string,
): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.from(publicKeyBase64, 'base64'),
      format: 'der',
      type: 'spki',
    });
    const data = Buffer.concat([Buffer.from(timestamp, 'utf8'), payload]);
    return verify('sha256', data, key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}
