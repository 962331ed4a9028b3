import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes all but the newest `keep` entries. */
export async function trimSandbox(handle: DatabaseHandle, keep: number): Promise<void> {
  const cutoff = await handle.db
    .selectFrom('sandbox_messages')
    .select('id')
    .orderBy('id', 'desc')
    .offset(keep)
    .limit(1)
    .executeTakeFirst();
  if (cutoff) {
    await handle.writeTransaction(
      (trx) => trx.deleteFrom('sandbox_messages').where('id', '<=', cutoff.id).execute(),
      { asyncCommit: true },
    );
  }
}
