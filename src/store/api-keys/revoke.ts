import type { DatabaseHandle } from '../engine/handle.ts';

/** Revokes a key; returns false when no such key exists (true if it was revoked already). */
export async function revokeApiKey(
  handle: DatabaseHandle,
  id: string,
  now: number,
): Promise<boolean> {
  const result = await handle.db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) > 0) {
    // API processes on PostgreSQL drop their key caches when they hear this (see postgres.ts).
    await handle.announce('tegami_changes');
    return true;
  }
  const exists = await handle.db
    .selectFrom('api_keys')
    .select('id')
    .where('id', '=', id)
    .executeTakeFirst();
  return exists !== undefined;
}
