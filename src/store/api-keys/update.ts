import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/** Single-column changes of a key. The caller empties its key cache first. */

/** Makes a key an admin key (the bootstrap key always is one). */
export async function makeApiKeyAdmin(handle: DatabaseHandle, id: string): Promise<void> {
  await handle.db.updateTable('api_keys').set({ admin: 1 }).where('id', '=', id).execute();
}

/**
 * Takes back a revocation (the bootstrap key, configured again); true only when this call did,
 * and then records `audit` with it, so of several processes starting at once one records it.
 */
export function reactivateApiKey(
  handle: DatabaseHandle,
  id: string,
  audit: AuditEvent,
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const result = await trx
      .updateTable('api_keys')
      .set({ revoked_at: null })
      .where('id', '=', id)
      .where('revoked_at', 'is not', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    await insertAuditEvent(trx, audit);
    return true;
  });
}

export async function setApiKeyPrefix(
  handle: DatabaseHandle,
  id: string,
  prefix: string,
): Promise<void> {
  await handle.db
    .updateTable('api_keys')
    .set({ key_prefix: prefix })
    .where('id', '=', id)
    .execute();
}
