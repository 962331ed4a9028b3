import type {
  DeletedEndpointCursor,
  WebhookEndpoint,
} from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toEndpoint } from './rows.ts';

/**
 * Active endpoints, newest first; with `unitId`, only that unit's (another unit's do not exist
 * for its keys). With `page`, `limit` of them older than `beforeId`.
 */
export async function listEndpoints(
  handle: DatabaseHandle,
  unitId?: string,
  page?: { limit: number; beforeId?: string },
): Promise<WebhookEndpoint[]> {
  let query = handle.db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('disabled_at', 'is', null);
  if (unitId !== undefined) query = query.where('unit_id', '=', unitId).where('all_units', '=', 0);
  if (page?.beforeId !== undefined) query = query.where('id', '<', page.beforeId);
  if (page) query = query.limit(page.limit);
  const rows = await query.orderBy('id', 'desc').execute();
  return rows.map(toEndpoint);
}

/**
 * Deleted endpoints whose log still holds a status webhook, the most recently deleted first:
 * once retention has removed the whole log there is nothing left to read. With `page.before`,
 * those after it in that order (keyset on `(disabled_at, id)`).
 */
export async function listDeletedEndpoints(
  handle: DatabaseHandle,
  page: { limit: number; before?: DeletedEndpointCursor },
  unitId?: string,
): Promise<WebhookEndpoint[]> {
  let query = handle.db
    .selectFrom('webhook_endpoints as e')
    .selectAll('e')
    .where('e.disabled_at', 'is not', null)
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.endpoint_id', '=', 'e.id'),
      ),
    );
  if (unitId !== undefined)
    query = query.where('e.unit_id', '=', unitId).where('e.all_units', '=', 0);
  const { before } = page;
  if (before !== undefined)
    query = query.where(({ eb, refTuple, tuple }) =>
      eb(refTuple('e.disabled_at', 'e.id'), '<', tuple(before.deletedAt, before.id)),
    );
  const rows = await query
    .orderBy('e.disabled_at', 'desc')
    .orderBy('e.id', 'desc')
    .limit(page.limit)
    .execute();
  return rows.map(toEndpoint);
}
