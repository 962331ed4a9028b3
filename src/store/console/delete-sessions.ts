import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

export async function deleteSession(handle: DatabaseHandle, hash: string): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx.deleteFrom('console_sessions').where('token_hash', '=', hash).execute(),
  );
}

/**
 * Every session of a user (sign-out everywhere), with its `audit` event (given how many ended) in
 * the same transaction; returns how many. The user's count of sign-outs
 * goes up first, in the same transaction: a sign-in that read the count before (its password
 * check under way) then inserts no session (insert-session.ts). On PostgreSQL the update takes
 * the user's row lock, so an insert that holds it commits first and its session is deleted here.
 */
export function deleteUserSessions(
  handle: DatabaseHandle,
  userId: string,
  audit: (sessionsEnded: number) => AuditEvent,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    await trx
      .updateTable('console_users')
      .set((eb) => ({ sign_outs: eb('sign_outs', '+', 1) }))
      .where('id', '=', userId)
      .execute();
    const result = await trx
      .deleteFrom('console_sessions')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    const sessionsEnded = Number(result.numDeletedRows);
    await insertAuditEvent(trx, audit(sessionsEnded));
    return sessionsEnded;
  });
}

/** Sessions that ended (idle too long, or too old); returns how many were removed. */
export async function pruneSessions(
  handle: DatabaseHandle,
  idleBefore: number,
  startedBefore: number,
): Promise<number> {
  const result = await handle.writeTransaction((trx) =>
    trx
      .deleteFrom('console_sessions')
      .where((eb) =>
        eb.or([eb('last_seen_at', '<', idleBefore), eb('created_at', '<', startedBefore)]),
      )
      .executeTakeFirst(),
  );
  return Number(result.numDeletedRows);
}
