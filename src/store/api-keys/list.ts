import type { ApiKeyPage, ApiKeyRecord } from '../../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toApiKeyRecord } from './rows.ts';

/**
 * A page of keys, revoked ones too, newest first: those made before the key `beforeId` (the
 * console's API keys page, `tegami keys list`). Ids begin with their creation time (ids.ts), so
 * the order is the primary key's: a page is one range of it, read backwards.
 */
export async function listApiKeyPage(
  handle: DatabaseHandle,
  page: ApiKeyPage,
): Promise<ApiKeyRecord[]> {
  let query = handle.db.selectFrom('api_keys').selectAll().orderBy('id', 'desc').limit(page.limit);
  if (page.beforeId !== undefined) query = query.where('id', '<', page.beforeId);
  const rows = await query.execute();
  return rows.map(toApiKeyRecord);
}
