import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Revokes an active key; returns true only when this call revoked it, false when no such key
 * exists or it was revoked already (so a caller records one revocation, however often it is
 * asked, even by two at once).
 */
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
  if (Number(result.numUpdatedRows) === 0) return false;
  // API processes on PostgreSQL drop their key caches when they hear this (see postgres.ts).
  await handle.announce('tegami_changes');
  return true;
}
