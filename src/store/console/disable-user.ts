import type { ConsoleUser } from '../../domain/console-users.ts';
import type { DisableOutcome } from '../../domain/ports/console-user-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toUser } from './rows.ts';

/**
 * Disables a user and ends its sessions, in one transaction, when `allowed` says the enabled
 * admins left are enough. The user and every enabled admin are read with row locks (PostgreSQL
 * `FOR UPDATE`; SQLite's write lock holds from BEGIN): two processes disabling the last two
 * admins at once would otherwise each see the other still enabled, and leave none.
 */
export function disableUser(
  handle: DatabaseHandle,
  id: string,
  at: number,
  allowed: (user: ConsoleUser, otherEnabledAdmins: ConsoleUser[]) => boolean,
): Promise<DisableOutcome> {
  return handle.writeTransaction(async (trx) => {
    const rows = await handle.dialect
      .lockRowsForUpdate(
        trx
          .selectFrom('console_users')
          .selectAll()
          .where((eb) =>
            eb.or([
              eb('id', '=', id),
              eb.and([eb('role', '=', 'admin'), eb('disabled_at', 'is', null)]),
            ]),
          )
          .orderBy('id'),
      )
      .execute();
    const row = rows.find((r) => r.id === id);
    if (!row) return { kind: 'not_found' };
    if (row.disabled_at !== null) return { kind: 'already_disabled' };
    const others = rows.filter((r) => r.id !== id).map(toUser);
    if (!allowed(toUser(row), others)) return { kind: 'last_admin' };
    await trx.updateTable('console_users').set({ disabled_at: at }).where('id', '=', id).execute();
    const ended = await trx
      .deleteFrom('console_sessions')
      .where('user_id', '=', id)
      .executeTakeFirst();
    return { kind: 'disabled', sessionsEnded: Number(ended.numDeletedRows) };
  });
}

/** Enables a disabled user; false when it was not disabled (or does not exist). */
export async function enableUser(handle: DatabaseHandle, id: string): Promise<boolean> {
  const updated = await handle.writeTransaction((trx) =>
    trx
      .updateTable('console_users')
      .set({ disabled_at: null })
      .where('id', '=', id)
      .where('disabled_at', 'is not', null)
      .executeTakeFirst(),
  );
  return Number(updated.numUpdatedRows) > 0;
}
