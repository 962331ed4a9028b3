import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { StateChange } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { changeStatus } from './change-status.ts';

/** Cancels a queued or scheduled message, with its message.cancel `audit` event (changeStatus). */
export function cancelMessage(
  handle: DatabaseHandle,
  id: string,
  now: number,
  unitId: string | undefined,
  audit: (messageUnitId: string) => AuditEvent,
): Promise<StateChange> {
  return changeStatus(handle, id, unitId, ['queued', 'scheduled'], audit, async (trx) => {
    await trx
      .updateTable('messages')
      .set({ status: 'cancelled', next_attempt_at: null, updated_at: now })
      .where('id', '=', id)
      .execute();
    // Its recipients read `cancelled` from now on (reportedRecipientStatus).
  });
}
