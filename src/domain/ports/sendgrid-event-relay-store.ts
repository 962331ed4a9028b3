import type { AuditEvent } from '../operations/audit-event.ts';

/** A unit's SendGrid event relay: where its events go and the key pair its posts are signed with. */
export interface EventRelay {
  unitId: string;
  url: string;
  /** Base64 DER SubjectPublicKeyInfo. */
  publicKey: string;
  /** Base64 DER PKCS #8: never shown. */
  privateKey: string;
  createdAt: number;
  updatedAt: number;
}

/** A queued delivery event, claimed for a post: its payload as the provider sent it. */
export interface RelayedEvent {
  eventKey: string;
  unitId: string;
  xMessageId: string;
  attempts: number;
  queuedAt: number;
  payload: Record<string, unknown>;
}

export interface RelayCounts {
  pending: number;
  failed: number;
}

/**
 * The SendGrid event relay (domain/sendgrid-compat/event-relay.ts): units' relays, and the queue
 * of delivery events to post to them.
 */
export interface SendGridEventRelayStore {
  /**
   * Creates the unit's relay with `keys`, or changes its URL and keeps its key pair, and writes
   * `audit` in the same transaction.
   */
  put(
    unitId: string,
    url: string,
    keys: { publicKey: string; privateKey: string },
    now: number,
    audit: AuditEvent,
  ): Promise<EventRelay>;
  get(unitId: string): Promise<EventRelay | null>;
  /**
   * Removes the relay and its queued events, and writes `audit` in the same transaction; false,
   * and nothing recorded, when the unit had no relay.
   */
  remove(unitId: string, audit: AuditEvent): Promise<boolean>;
  counts(unitId: string): Promise<RelayCounts>;
  /**
   * Queues the stored delivery events among `eventKeys` that belong to mail that came in through
   * `POST /v3/mail/send` of a unit with a relay. Queuing an event twice queues it once.
   */
  queue(eventKeys: string[], now: number): Promise<number>;
  /** Up to `limit` due events of one unit, oldest first, leased until `now + leaseMs`. */
  claimDue(now: number, limit: number, leaseMs: number): Promise<RelayedEvent[]>;
  /** The events were posted (2xx): they leave the queue. */
  posted(eventKeys: string[]): Promise<void>;
  /** A post failed: try again at `nextAttemptAt`, or give up (`failed`) when it is null. */
  retryLater(
    eventKeys: string[],
    result: { httpStatus: number | null; error: string; nextAttemptAt: number | null },
  ): Promise<void>;
  /** Forgets up to `limit` failed events queued before `before`; how many it forgot. */
  pruneFailed(before: number, limit: number): Promise<number>;
}
