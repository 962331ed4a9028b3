import { writeHandingOver } from '../../domain/hand-over.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { DeliveryHandOff } from '../../domain/ports/hand-off.ts';
import type {
  MessageFilter,
  MessageStore,
  StateChange,
  Submission,
  SubmissionOutcome,
} from '../../domain/ports/message-store.ts';
import type { MessageRecord } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { CommitGroup } from '../write/commit-group.ts';
import { cancelMessage } from './cancel.ts';
import { countMessages } from './count.ts';
import { countUnconfirmed } from './count-unconfirmed.ts';
import { findIdempotent } from './find-idempotent.ts';
import { getMessage } from './get.ts';
import { listMessages } from './list.ts';
import { pruneFinishedMessages } from './prune-finished.ts';
import { pruneIdempotencyKeys } from './prune-idempotency-keys.ts';
import { retryMessage } from './retry.ts';
import { submitGroup } from './submit.ts';

export interface SubmissionOptions {
  /**
   * Where groups of submissions are written instead of on `handle`: `tegami serve`'s delivery
   * thread on SQLite, which owns the connection every message's writes are made on.
   */
  submitGroupVia?: (group: Submission[]) => Promise<SubmissionOutcome[]>;
  /** The worker of this thread, given the mail that may go at once (domain/hand-over.ts). */
  handOff?: DeliveryHandOff;
}

/**
 * Accepting, reading and changing messages on behalf of the API. Submissions are written by
 * group commit: this object owns the group.
 */
export class SqlMessageStore implements MessageStore {
  private readonly submissions: CommitGroup<Submission, SubmissionOutcome>;

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly options: SubmissionOptions = {},
  ) {
    this.submissions = new CommitGroup(
      (group) => this.writeGroup(group),
      1000,
      handle.writeConcurrency,
    );
  }

  /** Writes a group as one commit, now: for groups formed elsewhere (another thread's API). */
  writeGroup(group: Submission[]): Promise<SubmissionOutcome[]> {
    const { submitGroupVia, handOff } = this.options;
    const write = submitGroupVia ?? ((g: Submission[]) => submitGroup(this.handle, g));
    return handOff ? writeHandingOver(handOff, group, write, Date.now()) : write(group);
  }

  submit(submission: Submission): Promise<SubmissionOutcome> {
    return this.submissions.add(submission);
  }

  flushed(): Promise<void> {
    return this.submissions.flushed();
  }

  findIdempotent(apiKeyId: string, key: string) {
    return findIdempotent(this.handle, apiKeyId, key);
  }

  get(id: string, unitId?: string): Promise<MessageRecord | null> {
    return getMessage(this.handle, id, unitId);
  }

  list(filter: MessageFilter): Promise<MessageRecord[]> {
    return listMessages(this.handle, filter);
  }

  /** How many messages match (the cursor and the limit are ignored). */
  count(filter: MessageFilter): Promise<number> {
    return countMessages(this.handle, filter);
  }

  cancel(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange> {
    return cancelMessage(this.handle, id, now, unitId, audit);
  }

  retry(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange> {
    return retryMessage(this.handle, id, now, unitId, audit);
  }

  pruneIdempotencyKeys(olderThan: number, limit: number): Promise<number> {
    return pruneIdempotencyKeys(this.handle, olderThan, limit);
  }

  countUnconfirmed(sentBefore: number, now: number): Promise<number> {
    return countUnconfirmed(this.handle, sentBefore, now);
  }

  pruneFinished(before: number, limit: number): Promise<number> {
    return pruneFinishedMessages(this.handle, before, limit);
  }
}
