import type { ConsoleUser } from '../../domain/console-users.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { DisableOutcome } from '../../domain/ports/console-user-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toUser } from './rows.ts';

/**
 * Disables a user and ends its sessions, with its `audit` event, in one transaction, when `allowed` says the enabled
 * admins left are enough. The user and every enabled admin are read with row locks (PostgreSQL
 * `FOR UPDATE`; SQLite's write lock holds from BEGIN): two processes disabling the last two
 * admins at once would otherwise each see the other still enabled, and leave none.
 */
export function disableUser(
  handle: DatabaseHandle,
  id: string,
  at: number,
  allowed: (user: ConsoleUser, otherEnabledAdmins: ConsoleUser[]) => boolean,
  audit: (sessionsEnded: number) => AuditEvent,
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
    const sessionsEnded = Number(ended.numDeletedRows);
    await insertAuditEvent(trx, audit(sessionsEnded));
    return { kind: 'disabled', sessionsEnded };
  });
}

/**
 * Enables a disabled user, with its `audit` event in the same transaction; false, and nothing
 * recorded, when it was not disabled (or does not exist).
 */
export function enableUser(
  handle: DatabaseHandle,
  id: string,
  audit: AuditEvent,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const updated = await trx
      .updateTable('console_users')
      .set({ disabled_at: null })
      .where('id', '=', id)
      .where('disabled_at', 'is not', null)
      .executeTakeFirst();
    const enabled = Number(updated.numUpdatedRows) > 0;
    if (enabled) await insertAuditEvent(trx, audit);
    return enabled;
  });
}
