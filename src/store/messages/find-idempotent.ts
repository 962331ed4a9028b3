import type { DatabaseHandle } from '../engine/handle.ts';

/** The stored answer to an idempotency key of an API key, if the key was used. */
export async function findIdempotent(handle: DatabaseHandle, apiKeyId: string, key: string) {
  const row = await handle.db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'response_status', 'response_body'])
    .where('api_key_id', '=', apiKeyId)
    .where('key', '=', key)
    .executeTakeFirst();
  if (!row) return null;
  // The stored answer is replayed as an acknowledgement: only once its commit is on disk.
  await handle.durable?.();
  return { requestHash: row.request_hash, status: row.response_status, body: row.response_body };
}
