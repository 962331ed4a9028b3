import type { ClaimRequest, Completion } from '../../domain/ports/delivery-store.ts';
import type { Submission, SubmissionOutcome } from '../../domain/ports/message-store.ts';
import type { ClaimedMessage } from '../../domain/types.ts';
import { claimDue } from '../delivery/claim-due.ts';
import { writeCompletions } from '../delivery/complete.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { submitGroup } from '../messages/submit.ts';

/**
 * The writes every message goes through, whole units of work each: a group of submissions, a
 * claim, a group of completions. In the process that asks (`localHotWrites`), or on a thread
 * that owns the SQLite connection they are written on (writer-thread.ts).
 */
export interface HotWrites {
  submitGroup(group: Submission[]): Promise<SubmissionOutcome[]>;
  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]>;
  completeGroup(group: Completion[]): Promise<void>;
}

export function localHotWrites(handle: DatabaseHandle): HotWrites {
  return {
    submitGroup: (group) => submitGroup(handle, group),
    claimDue: (request) => claimDue(handle, request),
    completeGroup: (group) =>
      handle.writeTransaction((trx) => writeCompletions(trx, handle, group)),
  };
}
