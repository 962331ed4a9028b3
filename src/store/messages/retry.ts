import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { REQUEUED_OUTCOME } from '../../domain/operations/unsent.ts';
import type { StateChange } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { changeStatus } from './change-status.ts';

/** Queues a failed message again, with its message.retry `audit` event (changeStatus). */
export function retryMessage(
  handle: DatabaseHandle,
  id: string,
  now: number,
  unitId: string | undefined,
  audit: (messageUnitId: string) => AuditEvent,
): Promise<StateChange> {
  return changeStatus(handle, id, unitId, ['failed'], audit, async (trx) => {
    // A manual retry starts a fresh retry budget; attempt numbers go on counting, so the
    // earlier attempts stay on record beside the new ones.
    await trx
      .updateTable('messages')
      .set((eb) => ({
        status: 'queued',
        next_attempt_at: now,
        attempts_before_retry: eb.ref('attempt_count'),
        // The unsent view says `requeued` until the next attempt, not `retrying` with the
        // error it failed with; the error class stays for what it failed with.
        last_outcome: REQUEUED_OUTCOME,
        updated_at: now,
      }))
      .where('id', '=', id)
      .execute();
    // Its recipients read `pending` from now on (reportedRecipientStatus); their rows are not
    // rewritten until the next attempt finishes.
  });
}
