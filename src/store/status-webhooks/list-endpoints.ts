import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toEndpoint } from './rows.ts';

/** With `unitId`, only that unit's endpoints (another unit's do not exist for its keys). */
export async function listEndpoints(
  handle: DatabaseHandle,
  unitId?: string,
): Promise<WebhookEndpoint[]> {
  let query = handle.db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('disabled_at', 'is', null);
  if (unitId !== undefined) query = query.where('unit_id', '=', unitId).where('all_units', '=', 0);
  const rows = await query.orderBy('id', 'desc').execute();
  return rows.map(toEndpoint);
}
