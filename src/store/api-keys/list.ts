import type { ApiKeyRecord } from '../../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toApiKeyRecord } from './rows.ts';

/** Every key, revoked ones too, by id. */
export async function listApiKeys(handle: DatabaseHandle): Promise<ApiKeyRecord[]> {
  const rows = await handle.db.selectFrom('api_keys').selectAll().orderBy('id').execute();
  return rows.map(toApiKeyRecord);
}
