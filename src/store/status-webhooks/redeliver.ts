import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Sends failed deliveries of an endpoint again (those created at or after `since`, if given):
 * for when the application was down longer than the retry window. Each gets a fresh window
 * and backoff; the log keeps its last error, and when it was, until the next attempt. The request's
 * `audit` event, given how many were queued (none too: it was asked for), is written in the same
 * transaction. Returns how many, or null when the endpoint is deleted (by a request that came
 * between the caller's look-up and this one): its status webhooks stay failed, nothing recorded.
 */
export function redeliver(
  handle: DatabaseHandle,
  endpointId: string,
  since: number | null,
  now: number,
  audit: (requeued: number) => AuditEvent,
): Promise<number | null> {
  return handle.writeTransaction(async (trx) => {
    // Held until the commit, so a delete waits for this and then fails what was queued again,
    // instead of this queueing again what a delete has just failed.
    const active = await handle.dialect
      .lockRowsForUpdate(
        trx
          .selectFrom('webhook_endpoints')
          .select('id')
          .where('id', '=', endpointId)
          .where('disabled_at', 'is', null),
      )
      .executeTakeFirst();
    if (!active) return null;
    let update = trx
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: now, retry_from: now })
      .where('endpoint_id', '=', endpointId)
      .where('status', '=', 'failed');
    if (since !== null) update = update.where('created_at', '>=', since);
    const requeued = Number((await update.executeTakeFirst()).numUpdatedRows);
    await insertAuditEvent(trx, audit(requeued));
    return requeued;
  });
}
