import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/** One more failed sign-in; with `lockUntil`, the account is locked until then. */
export async function recordFailedSignIn(
  handle: DatabaseHandle,
  id: string,
  lockUntil: number | null,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('console_users')
      .set({
        failed_sign_ins: sql`failed_sign_ins + 1`,
        ...(lockUntil !== null ? { locked_until: lockUntil, failed_sign_ins: 0 } : {}),
      })
      .where('id', '=', id)
      .execute(),
  );
}

export async function clearFailedSignIns(handle: DatabaseHandle, id: string): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .updateTable('console_users')
      .set({ failed_sign_ins: 0, locked_until: null })
      .where('id', '=', id)
      .execute(),
  );
}
