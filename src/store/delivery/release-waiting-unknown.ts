import type { DatabaseHandle } from '../engine/handle.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * The provider turned out to be down: messages waiting to learn whether a timed-out send went
 * through are due again at once (the circuit holds them until the provider is back), instead of
 * waiting out the confirmation window after the outage ends.
 */
export async function releaseWaitingUnknown(
  handle: DatabaseHandle,
  messageIds: string[],
  now: number,
): Promise<number> {
  // In a write transaction: on SQLite it waits for another process's lock on a timer.
  return handle.writeTransaction(async (trx) => {
    let released = 0;
    for (const part of chunks(messageIds)) {
      const result = await trx
        .updateTable('messages')
        .set({ next_attempt_at: now, updated_at: now })
        .where('id', 'in', part)
        .where('status', '=', 'queued')
        .where('next_attempt_at', '>', now)
        .executeTakeFirst();
      released += Number(result.numUpdatedRows);
    }
    return released;
  });
}
