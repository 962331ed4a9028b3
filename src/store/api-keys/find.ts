import type { ApiKeyRecord } from '../../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toApiKeyRecord } from './rows.ts';

/** How a key is looked up: by id, or by hash (revoked or not, or active only). */
export type ApiKeyLookup = { id: string } | { keyHash: string; activeOnly: boolean };

/** The key `lookup` names, read from the database (no cache). */
export async function findApiKey(
  handle: DatabaseHandle,
  lookup: ApiKeyLookup,
): Promise<ApiKeyRecord | null> {
  let query = handle.db.selectFrom('api_keys').selectAll();
  if ('id' in lookup) {
    query = query.where('id', '=', lookup.id);
  } else {
    query = query.where('key_hash', '=', lookup.keyHash);
    if (lookup.activeOnly) query = query.where('revoked_at', 'is', null);
  }
  const row = await query.executeTakeFirst();
  return row ? toApiKeyRecord(row) : null;
}
