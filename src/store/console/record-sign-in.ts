import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { LockRules, SignInAttempt } from '../../domain/ports/console-user-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Counts a sign-in attempt before its password is checked, in one transaction that holds the
 * user's row (PostgreSQL `FOR UPDATE`; SQLite's write lock): the attempt that brings the count
 * from its client address to `rules.perClient` locks that address out of the user, the one that
 * makes `rules.addressesToLockAccount` addresses with a recent failure locks the user. An attempt
 * that finds either lock is not counted. Deciding under the lock, not from a count read earlier,
 * is what holds the limits against many guesses sent at once. Null: no such user.
 */
export async function countSignInAttempt(
  handle: DatabaseHandle,
  id: string,
  client: string,
  now: number,
  rules: LockRules,
): Promise<SignInAttempt | null> {
  return handle.writeTransaction(async (trx) => {
    const user = await handle.dialect
      .lockRowsForUpdate(
        trx
          .selectFrom('console_users')
          .select(['failed_sign_ins', 'locked_until'])
          .where('id', '=', id),
      )
      .executeTakeFirst();
    if (!user) return null;
    const userLock = user.locked_until === null ? null : Number(user.locked_until);
    if (userLock !== null && userLock > now) {
      return { counted: false, lock: { scope: 'account', until: userLock } };
    }
    const mine = await trx
      .selectFrom('console_sign_in_failures')
      .select(['failures', 'locked_until', 'last_failed_at'])
      .where('user_id', '=', id)
      .where('client', '=', client)
      .executeTakeFirst();
    const clientLock = mine?.locked_until == null ? null : Number(mine.locked_until);
    if (clientLock !== null && clientLock > now) {
      return { counted: false, lock: { scope: 'client', until: clientLock } };
    }
    // A count forgets after a quiet `rules.forgetAfterMs`; a lock starts it again.
    const fresh = mine !== undefined && Number(mine.last_failed_at) > now - rules.forgetAfterMs;
    const fromClient = (fresh ? Number(mine.failures) : 0) + 1;
    const overall = Number(user.failed_sign_ins) + 1;
    const clientLocks = fromClient >= rules.perClient;
    await trx
      .insertInto('console_sign_in_failures')
      .values({
        user_id: id,
        client,
        failures: clientLocks ? 0 : fromClient,
        locked_until: clientLocks ? rules.lockUntil : null,
        last_failed_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['user_id', 'client']).doUpdateSet({
          failures: clientLocks ? 0 : fromClient,
          locked_until: clientLocks ? rules.lockUntil : null,
          last_failed_at: now,
        }),
      )
      .execute();
    // Addresses that failed recently, this one included (its row was just written).
    const recent = await trx
      .selectFrom('console_sign_in_failures')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('user_id', '=', id)
      .where('last_failed_at', '>', now - rules.forgetAfterMs)
      .executeTakeFirstOrThrow();
    const userLocks = Number(recent.n) >= rules.addressesToLockAccount;
    await trx
      .updateTable('console_users')
      .set({
        failed_sign_ins: userLocks ? 0 : overall,
        locked_until: userLocks ? rules.lockUntil : null,
      })
      .where('id', '=', id)
      .execute();
    if (userLocks) return { counted: true, lock: { scope: 'account', until: rules.lockUntil } };
    if (clientLocks) return { counted: true, lock: { scope: 'client', until: rules.lockUntil } };
    return { counted: true, lock: null };
  });
}

/**
 * A good sign-in from `client`: the user's count and that address's are cleared (other
 * addresses keep theirs, so a right password here does not unlock a guesser elsewhere).
 */
export async function clearSignInFailures(
  handle: DatabaseHandle,
  id: string,
  client: string,
): Promise<void> {
  await handle.writeTransaction(async (trx) => {
    await trx
      .updateTable('console_users')
      .set({ failed_sign_ins: 0, locked_until: null })
      .where('id', '=', id)
      .execute();
    await trx
      .deleteFrom('console_sign_in_failures')
      .where('user_id', '=', id)
      .where('client', '=', client)
      .execute();
  });
}

/**
 * `tegami users unlock`: every count and lock of the user, from every address, with its `audit`
 * event in the same transaction. False, and nothing recorded, when there was nothing to clear.
 */
export async function unlockUser(
  handle: DatabaseHandle,
  id: string,
  audit: AuditEvent,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const user = await trx
      .updateTable('console_users')
      .set({ failed_sign_ins: 0, locked_until: null })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('failed_sign_ins', '>', 0), eb('locked_until', 'is not', null)]))
      .executeTakeFirst();
    const clients = await trx
      .deleteFrom('console_sign_in_failures')
      .where('user_id', '=', id)
      .executeTakeFirst();
    const cleared = Number(user.numUpdatedRows) + Number(clients.numDeletedRows) > 0;
    if (cleared) await insertAuditEvent(trx, audit);
    return cleared;
  });
}

/** Removes counts with no failure since `before` and no lock left at `now`. */
export async function pruneSignInFailures(
  handle: DatabaseHandle,
  before: number,
  now: number,
): Promise<number> {
  const deleted = await handle.writeTransaction((trx) =>
    trx
      .deleteFrom('console_sign_in_failures')
      .where('last_failed_at', '<', before)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .executeTakeFirst(),
  );
  return Number(deleted.numDeletedRows);
}
