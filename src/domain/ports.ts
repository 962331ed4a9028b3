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

export interface MessageFilter {
  status?: MessageStatus;
  recipient?: string;
  category?: string;
  metadata?: [string, string][];
  createdAfter?: number;
  createdBefore?: number;
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
  get(id: string): Promise<MessageRecord | null>;
  list(filter: MessageFilter): Promise<MessageRecord[]>;
  cancel(id: string, now: number): Promise<StateChange>;
  retry(id: string, now: number): Promise<StateChange>;
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
export interface SuppressionStore {
  /** Newest first; `email` is an exact (case-insensitive) look-up. */
  list(filter: { email?: string; limit: number }): Promise<Suppression[]>;
  /** Adds an address; an address already on the list keeps its entry (`created: false`). */
  add(
    entry: Omit<Suppression, 'eventKey' | 'detail'>,
  ): Promise<{ created: boolean; suppression: Suppression }>;
  /** False when the address was not on the list. */
  remove(email: string): Promise<boolean>;
}
