import type { DatabaseHandle } from '../engine/handle.ts';
import { forgetEndpoints } from './endpoint-cache.ts';

/** Stops deliveries to the endpoint; its log stays readable until retention removes it. */
export async function disableEndpoint(
  handle: DatabaseHandle,
  id: string,
  now: number,
  unitId?: string,
): Promise<boolean> {
  const result = await handle.writeTransaction(async (trx) => {
    let update = trx
      .updateTable('webhook_endpoints')
      .set({ disabled_at: now })
      .where('id', '=', id)
      .where('disabled_at', 'is', null);
    if (unitId !== undefined)
      update = update.where('unit_id', '=', unitId).where('all_units', '=', 0);
    const updated = await update.executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) {
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', next_attempt_at: null, last_error: 'endpoint deleted' })
        .where('endpoint_id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    }
    return Number(updated.numUpdatedRows) > 0;
  });
  forgetEndpoints(handle);
  return result;
}
