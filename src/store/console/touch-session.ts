import type { DatabaseHandle } from '../engine/handle.ts';

/** Marks a session used; with `unitId` (null: every unit), switches the unit it shows. */
export async function touchSession(
  handle: DatabaseHandle,
  hash: string,
  now: number,
  unitId?: string | null,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('console_sessions')
      .set({ last_seen_at: now, ...(unitId !== undefined ? { unit_id: unitId } : {}) })
      .where('token_hash', '=', hash)
      .execute(),
  );
}
