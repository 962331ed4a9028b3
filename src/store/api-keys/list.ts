import type { ApiKeyPage, ApiKeyRecord } from '../../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toApiKeyRecord } from './rows.ts';

/** Every key, revoked ones too, by id: oldest first. */
export async function listApiKeys(handle: DatabaseHandle): Promise<ApiKeyRecord[]> {
  const rows = await handle.db.selectFrom('api_keys').selectAll().orderBy('id').execute();
  return rows.map(toApiKeyRecord);
}

/** A page of keys, revoked ones too, newest first: those made before the key `beforeId`. */
export async function listApiKeyPage(
  handle: DatabaseHandle,
  page: ApiKeyPage,
): Promise<ApiKeyRecord[]> {
  let query = handle.db.selectFrom('api_keys').selectAll().orderBy('id', 'desc').limit(page.limit);
  if (page.beforeId !== undefined) query = query.where('id', '<', page.beforeId);
  const rows = await query.execute();
  return rows.map(toApiKeyRecord);
}
