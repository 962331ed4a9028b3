import { sql } from 'kysely';
import type { SignInAttempt } from '../../domain/ports/console-user-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Counts a sign-in attempt before its password is checked, in one statement: the attempt that
 * brings the count to `lockAfter` locks the user until `lockUntil`; a user locked at `now` is not
 * counted (`null`). Deciding in the database, not from a count read earlier, is what holds the
 * lock against many guesses sent at once.
 */
export async function countSignInAttempt(
  handle: DatabaseHandle,
  id: string,
  now: number,
  lockAfter: number,
  lockUntil: number,
): Promise<SignInAttempt | null> {
  const reaches = sql<boolean>`failed_sign_ins + 1 >= cast(${lockAfter} as integer)`;
  const row = await handle.writeTransaction((trx) =>
    trx
      .updateTable('console_users')
      .set({
        failed_sign_ins: sql`case when ${reaches} then 0 else failed_sign_ins + 1 end`,
        locked_until: sql`case when ${reaches} then cast(${lockUntil} as bigint) else null end`,
      })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .returning(['locked_until'])
      .executeTakeFirst(),
  );
  if (!row) return null;
  return { lockedUntil: row.locked_until === null ? null : Number(row.locked_until) };
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
