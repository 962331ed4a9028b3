import type { StateChange } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { changeStatus } from './change-status.ts';

/** Cancels a queued or scheduled message. */
export function cancelMessage(
  handle: DatabaseHandle,
  id: string,
  now: number,
  unitId?: string,
): Promise<StateChange> {
  return changeStatus(handle, id, unitId, ['queued', 'scheduled'], async (trx) => {
    await trx
      .updateTable('messages')
      .set({ status: 'cancelled', next_attempt_at: null, updated_at: now })
      .where('id', '=', id)
      .execute();
    // Its recipients read `cancelled` from now on (reportedRecipientStatus).
  });
}
