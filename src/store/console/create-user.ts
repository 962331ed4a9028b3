import type { AuditEvent } from '../../domain/operations/audit-event.ts';
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
    // `on conflict`, not a look-up first: two processes creating the same address at once would
    // both find it free, and the second insert would fail on the unique address.
    const inserted = await trx
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
        disabled_at: null,
        sign_outs: 0,
      })
      .onConflict((conflict) => conflict.column('email').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return false;
    if (audit) await insertAuditEvent(trx, audit);
    return true;
  });
}
