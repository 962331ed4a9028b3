import type { DatabaseHandle } from '../engine/handle.ts';

/** Single-column changes of a key. The caller empties its key cache first. */

/** Makes a key an admin key (the bootstrap key always is one). */
export async function makeApiKeyAdmin(handle: DatabaseHandle, id: string): Promise<void> {
  await handle.db.updateTable('api_keys').set({ admin: 1 }).where('id', '=', id).execute();
}

/**
 * Takes back a revocation (the bootstrap key, configured again); true only when this call did,
 * so of several processes starting at once one records it.
 */
export async function reactivateApiKey(handle: DatabaseHandle, id: string): Promise<boolean> {
  const result = await handle.db
    .updateTable('api_keys')
    .set({ revoked_at: null })
    .where('id', '=', id)
    .where('revoked_at', 'is not', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function setApiKeyPrefix(
  handle: DatabaseHandle,
  id: string,
  prefix: string,
): Promise<void> {
  await handle.db
    .updateTable('api_keys')
    .set({ key_prefix: prefix })
    .where('id', '=', id)
    .execute();
}
