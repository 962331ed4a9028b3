import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { forgetEndpoints } from './endpoint-cache.ts';
import { toEndpoint } from './rows.ts';

/**
 * Deletes the endpoint: nothing more is posted to it, and its pending status webhooks fail
 * ("endpoint deleted"). The row stays, marked deleted, so that its log stays readable
 * (`GET /v1/webhook-endpoints/{id}/deliveries`, the console's log page) until retention removes
 * it with the messages it is about. Its `audit` event is written in the same transaction; an
 * endpoint deleted already is not deleted again, and nothing is recorded.
 */
export async function disableEndpoint(
  handle: DatabaseHandle,
  id: string,
  now: number,
  unitId: string | undefined,
  audit: (deleted: WebhookEndpoint) => AuditEvent,
): Promise<boolean> {
  const result = await handle.writeTransaction(async (trx) => {
    let update = trx
      .updateTable('webhook_endpoints')
      .set({ disabled_at: now })
      .where('id', '=', id)
      .where('disabled_at', 'is', null);
    if (unitId !== undefined)
      update = update.where('unit_id', '=', unitId).where('all_units', '=', 0);
    const deleted = await update.returningAll().executeTakeFirst();
    if (deleted) {
      await trx
        .updateTable('webhook_deliveries')
        // Its error is now, and no HTTP status goes with it (an earlier post's would read as
        // the deletion's), as when the sender finds the endpoint deleted.
        .set({
          status: 'failed',
          next_attempt_at: null,
          last_status: null,
          last_error: 'endpoint deleted',
          last_error_at: now,
        })
        .where('endpoint_id', '=', id)
        .where('status', '=', 'pending')
        .execute();
      await insertAuditEvent(trx, audit(toEndpoint(deleted)));
    }
    return deleted !== undefined;
  });
  forgetEndpoints(handle);
  return result;
}
