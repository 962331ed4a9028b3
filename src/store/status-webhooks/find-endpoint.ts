import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toEndpoint } from './rows.ts';

/**
 * An active endpoint, or with `deleted` a deleted one too; with `unitId`, only if it is that
 * unit's own.
 */
export async function findEndpoint(
  handle: DatabaseHandle,
  id: string,
  unitId?: string,
  options: { deleted?: boolean } = {},
): Promise<WebhookEndpoint | null> {
  let query = handle.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
  if (!options.deleted) query = query.where('disabled_at', 'is', null);
  if (unitId !== undefined) query = query.where('unit_id', '=', unitId).where('all_units', '=', 0);
  const row = await query.executeTakeFirst();
  return row ? toEndpoint(row) : null;
}
