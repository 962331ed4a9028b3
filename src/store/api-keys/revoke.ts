import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Revokes an active key; returns true only when this call revoked it, false when no such key
 * exists or it was revoked already (so one revocation is recorded, however often it is asked,
 * even by two at once). `audit`, if given, is written in the same transaction as the change.
 */
export async function revokeApiKey(
  handle: DatabaseHandle,
  id: string,
  now: number,
  audit: AuditEvent | null = null,
): Promise<boolean> {
  const revoked = await handle.writeTransaction(async (trx) => {
    const result = await trx
      .updateTable('api_keys')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    if (audit) await insertAuditEvent(trx, audit);
    return true;
  });
  // API processes on PostgreSQL drop their key caches when they hear this (see postgres.ts).
  if (revoked) await handle.announce('tegami_changes');
  return revoked;
}
