import type { StatusWebhookStore } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/** What came of one attempt, as the port describes it. */
export type AttemptResult = Parameters<StatusWebhookStore['recordAttempt']>[1];

/**
 * Records one attempt: `delivered`, `failed` for good, or `pending` again at `nextAttemptAt`. Its
 * error replaces the last one, with its time (`last_error_at`); a post answered `2xx` clears both.
 */
export async function recordAttempt(
  handle: DatabaseHandle,
  id: string,
  result: AttemptResult,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        status: result.status,
        attempts: eb('attempts', '+', 1),
        next_attempt_at: result.nextAttemptAt,
        last_status: result.httpStatus,
        last_error: result.error,
        last_error_at: result.error === null ? null : result.now,
        delivered_at: result.status === 'delivered' ? result.now : null,
      }))
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute(),
  );
}
