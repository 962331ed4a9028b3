import type { MessageQuery } from './operations/message-query.ts';
import type { UnsentReason, UnsentWindow } from './operations/unsent.ts';
import type { CircuitSnapshot } from './provider-circuit.ts';
import type { Decision } from './retry-policy.ts';
import type { SuppressedRecipient, Suppression } from './suppression.ts';
import type {
  Attempt,
  ClaimedMessage,
  CredentialCheck,
  MessageContent,
  MessageRecord,
  MessageStatus,
  OutboundMessage,
  SendResult,
} from './types.ts';

/**
 * The narrow ports between the domain and its adapters. The worker and the API receive these;
 * they never import a database driver or a provider SDK.
 */

/** A service that sends mail. Adding one must not touch domain code. */
export interface Provider {
  readonly name: string;
  /**
   * Never throws for a provider-side problem: it reports it as a `SendResult`. When `abandon`
   * aborts, the call gives up waiting and reports outcome `unknown` if the request was sent.
   */
  send(message: OutboundMessage, abandon?: AbortSignal): Promise<SendResult>;
  /**
   * Asks the provider whether our credentials work, without sending anything. Never throws for
   * a provider-side problem. Providers without credentials leave it out.
   */
  verify?(signal?: AbortSignal): Promise<CredentialCheck>;
  close?(): Promise<void>;
}

export interface NewMessage {
  id: string;
  apiKeyId: string | null;
  /** The unit it belongs to (the submitting key's); absent: the `default` unit. */
  unitId?: string;
  content: MessageContent;
  sendAt: number | null;
  createdAt: number;
}

export interface IdempotencyClaim {
  apiKeyId: string;
  key: string;
  requestHash: string;
  /** The answer to store and replay for this key. */
  responseStatus: number;
  responseBody: string;
}

/** Messages from one request, written atomically: all of them or none. */
export interface Submission {
  messages: NewMessage[];
  idempotency?: IdempotencyClaim;
}

export type SubmissionOutcome =
  | { kind: 'stored' }
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'idempotency_conflict' };

/**
 * What the store filters on: an operator's `MessageQuery` (domain/operations/message-query.ts)
 * with the unit resolved to its id and the scope applied.
 */
export interface MessageFilter extends Omit<MessageQuery, 'unit' | 'reason'> {
  /** Only this unit's messages. */
  unitId?: string;
  /** Only unsent messages (see domain/operations/unsent.ts), and of this reason if given. */
  unsent?: { reason?: UnsentReason; window: UnsentWindow };
  /** Only sent messages, sent before this time, with no delivery event ("202, then silence"). */
  unconfirmedSentBefore?: number;
  /** Cursor: only messages older than this id. */
  beforeId?: string;
  limit: number;
}

export type StateChange =
  | { kind: 'changed'; record: MessageRecord }
  | { kind: 'not_found' }
  | { kind: 'wrong_status'; status: MessageStatus };

export interface MessageStore {
  /** Durable (fsync'd) when the promise resolves. */
  submit(submission: Submission): Promise<SubmissionOutcome>;
  findIdempotent(
    apiKeyId: string,
    key: string,
  ): Promise<{ requestHash: string; status: number; body: string } | null>;
  /** With `unitId`, a message of another unit is not found. */
  get(id: string, unitId?: string): Promise<MessageRecord | null>;
  list(filter: MessageFilter): Promise<MessageRecord[]>;
  /** How many messages match (cursor and limit ignored). */
  count(filter: MessageFilter): Promise<number>;
  cancel(id: string, now: number, unitId?: string): Promise<StateChange>;
  retry(id: string, now: number, unitId?: string): Promise<StateChange>;
  pruneIdempotencyKeys(olderThan: number): Promise<number>;
}

export interface Completion {
  messageId: string;
  leaseOwner: string;
  attempt: Attempt;
  decision: Decision;
  now: number;
  /** Recipients left out of the send because they are suppressed; marked so once it is final. */
  suppressed?: SuppressedRecipient[];
}

/** What the delivery worker needs from storage. */
export interface DeliveryStore {
  /** Leases up to `limit` due messages to `owner` until `now + leaseMs`. */
  claimDue(owner: string, limit: number, leaseMs: number, now: number): Promise<ClaimedMessage[]>;
  /** Records the attempt and applies the decision, if `leaseOwner` still holds the lease. */
  complete(completion: Completion): Promise<void>;
  /** Lease owners currently holding unexpired leases. */
  activeLeaseOwners(now: number): Promise<string[]>;
  /** Makes every message leased by `owner` claimable at once (its worker is known dead). */
  releaseLeases(owner: string, now: number): Promise<number>;
  /** Resolves when every completion handed over so far is durable. */
  flushed(): Promise<void>;
}

export interface ProviderHealthReport {
  provider: string;
  /** The reporting worker's lease owner. */
  reporter: string;
  snapshot: CircuitSnapshot;
  updatedAt: number;
}

/** Where workers publish how they see each provider, so any API process can show it. */
export interface ProviderHealthStore {
  report(report: ProviderHealthReport): Promise<void>;
  remove(provider: string, reporter: string): Promise<void>;
  list(): Promise<ProviderHealthReport[]>;
}

/** The suppression list (see suppression.ts), for the API. */
/** Where a page of the suppression list ends: its last entry's time and lower-cased address. */
export interface SuppressionPosition {
  createdAt: number;
  emailNormalized: string;
}

export interface SuppressionStore {
  /**
   * Newest first; `email` is an exact (case-insensitive) look-up; `unitId`: that unit's only.
   * `before` continues after a page; `next` is where the next page starts, null after the last.
   */
  list(filter: {
    email?: string;
    unitId?: string;
    limit: number;
    before?: SuppressionPosition;
  }): Promise<{
    entries: Suppression[];
    next: SuppressionPosition | null;
  }>;
  /** Adds an address; an address already on the list keeps its entry (`created: false`). */
  add(
    entry: Omit<Suppression, 'eventKey' | 'detail' | 'unitId'> & { unitId: string },
  ): Promise<{ created: boolean; suppression: Suppression }>;
  /** False when the address was not on the list (as that unit's, with `unitId`). */
  remove(email: string, unitId?: string): Promise<boolean>;
}
