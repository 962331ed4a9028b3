import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * A new password hash, in one transaction with what must go with it: the failed sign-ins and the
 * locks cleared (from every address), every session of the user ended (whoever knew the old
 * password may be signed in), and its `audit` event. Returns how many sessions ended; null when
 * there is no such user (nothing recorded).
 */
export function setPassword(
  handle: DatabaseHandle,
  id: string,
  passwordHash: string,
  audit: (sessionsEnded: number) => AuditEvent,
): Promise<number | null> {
  return handle.writeTransaction(async (trx) => {
    const updated = await trx
      .updateTable('console_users')
      .set({ password_hash: passwordHash, failed_sign_ins: 0, locked_until: null })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return null;
    await trx.deleteFrom('console_sign_in_failures').where('user_id', '=', id).execute();
    const ended = await trx
      .deleteFrom('console_sessions')
      .where('user_id', '=', id)
      .executeTakeFirst();
    const sessionsEnded = Number(ended.numDeletedRows);
    await insertAuditEvent(trx, audit(sessionsEnded));
    return sessionsEnded;
  });
}
