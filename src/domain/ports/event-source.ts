import type { DeliveryEvent } from '../types.ts';

/** A request as an event source sees it: headers by lower-case name, and the raw body bytes. */
export interface SignedRequest {
  header(name: string): string | undefined;
  body: Buffer;
}

/**
 * A provider's feed of delivery events (SendGrid's Event Webhook), as tracking/ingest-events.ts
 * needs it: whether a request really comes from the provider, and each raw event in Tegami's
 * terms. Adding a provider's events means implementing this; the ingest flow stays the same.
 */
export interface EventSource {
  /** The provider's name, as in `POST /webhooks/{name}`. */
  readonly name: string;
  /** The largest body the provider posts, with room to spare; larger ones are refused (413). */
  readonly bodyLimit: number;
  /** Checks the signature (and its age); `reason` says why a request is refused. */
  verify(request: SignedRequest, now: number): { ok: true } | { ok: false; reason: string };
  /** One raw event to a `DeliveryEvent`, or null when it is not one that can be stored. */
  normalise(raw: unknown, receivedAt: number): DeliveryEvent | null;
}
