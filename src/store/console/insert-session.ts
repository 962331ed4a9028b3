import type { ConsoleSession } from '../../domain/console-users.ts';
import type { ConsoleUserToCheck } from '../../domain/ports/console-user-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Inserts a session, but only while its user is enabled, still has the password hash the
 * sign-in checked, and has had no sign-out everywhere since the sign-in read it; false when not.
 * The user's row is read with a row lock (PostgreSQL `FOR UPDATE`; SQLite's write lock holds
 * from BEGIN): a password set, a disable or a sign-out everywhere that commits while a sign-in
 * checks the password (scrypt takes ~100 ms) either finds this session and ends it, or makes this
 * insert find the user changed. Without it such a sign-in would outlive the change that was meant
 * to end it.
 */
export function insertSession(
  handle: DatabaseHandle,
  s: ConsoleSession,
  checked: Pick<ConsoleUserToCheck, 'passwordHash' | 'signOuts'>,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const user = await handle.dialect
      .lockRowsForUpdate(
        trx
          .selectFrom('console_users')
          .select('id')
          .where('id', '=', s.userId)
          .where('password_hash', '=', checked.passwordHash)
          .where('sign_outs', '=', checked.signOuts)
          .where('disabled_at', 'is', null),
      )
      .executeTakeFirst();
    if (!user) return false;
    await trx
      .insertInto('console_sessions')
      .values({
        token_hash: s.hash,
        user_id: s.userId,
        csrf_token: s.csrfToken,
        unit_id: s.unitId,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
      })
      .execute();
    return true;
  });
}
