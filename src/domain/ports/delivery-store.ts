import type { Decision } from '../retry-policy.ts';
import type { SuppressedRecipient } from '../suppression.ts';
import type { Attempt, ClaimedMessage } from '../types.ts';

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
export interface ClaimRequest {
  owner: string;
  limit: number;
  /** Slots given to due bulk mail even while high and normal mail waits (BulkAllowance). */
  bulkSlots?: number;
  leaseMs: number;
  now: number;
}

/** A claimed message handed back unsent (DeliveryStore.giveBack). */
export interface GiveBack {
  owner: string;
  messageId: string;
  at: number;
  now: number;
}

export interface DeliveryStore {
  /** Leases up to `limit` due messages to `owner` until `now + leaseMs`, by priority. */
  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]>;
  /** Records the attempt and applies the decision, if `leaseOwner` still holds the lease. */
  complete(completion: Completion): Promise<void>;
  /**
   * Moves `owner`'s leases on these messages (still `sending`) to `until`; returns the ids it
   * still held. For messages held longer than a lease: waiting for the provider, or slow sends.
   */
  extendLeases(owner: string, ids: readonly string[], until: number): Promise<string[]>;
  /** Lease owners currently holding unexpired leases. */
  activeLeaseOwners(now: number): Promise<string[]>;
  /**
   * Frees every message leased by `owner` (its worker is known dead): each gets an attempt of
   * outcome `unknown` on `provider`; one with a delivery event already is `sent`, the others are
   * due after `proofWaitMs`, as after a send that timed out.
   */
  releaseLeases(
    owner: string,
    now: number,
    lost: { provider: string; proofWaitMs: number },
  ): Promise<{ released: number; confirmed: number }>;
  /**
   * Frees every message whose lease ran out while `sending` (its worker stopped without a
   * result, wherever it ran), as releaseLeases does: claims leave such messages to this. `keep`:
   * those the caller's own worker still holds, and will finish.
   */
  releaseExpiredLeases(
    now: number,
    lost: { provider: string; proofWaitMs: number },
    keep?: readonly string[],
  ): Promise<{ released: number; confirmed: number }>;
  /**
   * Queues again, due at `at`, a message the worker claimed and did not send (no attempt is
   * recorded; its attempt count is as before the claim), if `owner` still holds it.
   */
  giveBack(giveBack: GiveBack): Promise<void>;
  /** Resolves when every completion handed over so far is durable. */
  flushed(): Promise<void>;
}
