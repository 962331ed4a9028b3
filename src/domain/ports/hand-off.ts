import type { ClaimedMessage } from '../types.ts';

/** The lease a message is written with when it is handed to the worker of its thread at once. */
export interface AcceptLease {
  owner: string;
  expiresAt: number;
}

/** Places a worker set aside for messages about to be stored (DeliveryHandOff). */
export interface HandOffReservation {
  lease: AcceptLease;
  /** How many of the group's messages may be written leased. */
  places: number;
}

/**
 * Hands accepted messages straight to the worker of the thread that writes them (domain/hand-over.ts),
 * instead of queueing them for its next claim. A message is then written already leased (`sending`, with
 * the worker's lease, in the transaction that accepts it) and goes to the provider once that
 * commit is durable: no claim statement, no claim transaction, no second read of its content.
 *
 * It only happens while nothing else waits: the worker has free places, its provider is healthy
 * and its last claim found no more due mail. Otherwise messages queue as always, so a handed
 * message never overtakes older or more urgent mail (priorities: domain/priority.ts). A crash
 * leaves a handed message exactly as one claimed: leased, due again when its lease expires.
 */
export interface DeliveryHandOff {
  /** Sets aside up to `count` places, or null when mail must queue. */
  reserve(count: number, now: number): HandOffReservation | null;
  /** These messages were stored leased: send them. The other reserved places are given back. */
  deliver(reservation: HandOffReservation, messages: ClaimedMessage[]): void;
}
