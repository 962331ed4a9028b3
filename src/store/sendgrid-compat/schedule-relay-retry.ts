import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';
import { chunks } from '../write/insert-rows.ts';

/** A post failed: its events are due again at `nextAttemptAt`, or `failed` when it is null. */
export async function scheduleRelayRetry(
  handle: DatabaseHandle,
  eventKeys: string[],
  result: { httpStatus: number | null; error: string; nextAttemptAt: number | null },
): Promise<void> {
  for (const part of chunks(eventKeys)) {
    await handle.writeTransaction((trx) =>
      trx
        .updateTable('sendgrid_relay_events')
        .set({
          status: result.nextAttemptAt === null ? 'failed' : 'pending',
          attempts: sql<number>`attempts + 1`,
          next_attempt_at: result.nextAttemptAt,
          last_http_status: result.httpStatus,
          last_error: result.error,
        })
        .where('event_key', 'in', part)
        .execute(),
    );
  }
}
