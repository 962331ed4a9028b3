import type { AuditEvent } from '../operations/audit-event.ts';
import type { MessageQuery } from '../operations/message-query.ts';
import type { UnsentReason, UnsentWindow } from '../operations/unsent.ts';
import type { Priority } from '../priority.ts';
import type { MessageContent, MessageRecord, MessageStatus } from '../types.ts';
import type { AcceptLease } from './hand-off.ts';

export interface NewMessage {
  id: string;
  apiKeyId: string | null;
  /** The unit it belongs to (the submitting key's); absent: the `default` unit. */
  unitId?: string;
  content: MessageContent;
  sendAt: number | null;
  createdAt: number;
  /** Absent: `normal`. */
  priority?: Priority;
  /**
   * Written leased to this worker (status `sending`, first attempt) to be sent at once
   * (ports/hand-off.ts). The store drops the lease of a message with a suppressed recipient:
   * that one queues, and a claim deals with it.
   */
  lease?: AcceptLease;
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
  /** `leased`: the messages written with their lease, and their units (absent: none). */
  | { kind: 'stored'; leased?: { id: string; unitId: string }[] }
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
  /**
   * Cancels a queued or scheduled message (with `unitId`, another unit's is not found). When it
   * does, `audit` (given the message's unit) is written in the same transaction: the change and
   * its event are both written, or neither.
   */
  cancel(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange>;
  /** Queues a failed message again, with its `audit` event as `cancel` writes it. */
  retry(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange>;
  /** Deletes up to `limit` idempotency keys used before `olderThan`; returns how many. */
  pruneIdempotencyKeys(olderThan: number, limit: number): Promise<number>;
}
