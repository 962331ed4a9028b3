import type { AuditEvent } from '../../domain/operations/audit.ts';
import type { NewConsoleUser } from '../../domain/ports/console-user-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/** Inserts a user (and its audit event) unless the address is taken; false when it is. */
export function createUser(
  handle: DatabaseHandle,
  user: NewConsoleUser,
  audit: AuditEvent | null,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const taken = await trx
      .selectFrom('console_users')
      .select('id')
      .where('email', '=', user.email)
      .executeTakeFirst();
    if (taken) return false;
    await trx
      .insertInto('console_users')
      .values({
        id: user.id,
        email: user.email,
        password_hash: user.passwordHash,
        role: user.role,
        unit_ids: user.unitIds === null ? null : JSON.stringify(user.unitIds),
        can_read_bodies: user.canReadBodies ? 1 : 0,
        failed_sign_ins: 0,
        locked_until: null,
        created_at: user.createdAt,
      })
      .execute();
    if (audit) await insertAuditEvent(trx, audit);
    return true;
  });
}
