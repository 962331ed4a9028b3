import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { StateChange } from '../../domain/ports/message-store.ts';
import type { MessageStatus } from '../../domain/types.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { getMessage } from './get.ts';

/**
 * Applies `change` to one message if its status is one of `allowed` (for cancel and retry), and
 * its `audit` event in the same transaction, so a change is never without its event; returns the
 * message as it is then. Nothing changed (not found, or another status): no event.
 */
export async function changeStatus(
  handle: DatabaseHandle,
  id: string,
  unitId: string | undefined,
  allowed: MessageStatus[],
  audit: (messageUnitId: string) => AuditEvent,
  change: (trx: Kysely<Database>) => Promise<void>,
): Promise<StateChange> {
  const outcome = await handle.writeTransaction(async (trx) => {
    let query = trx.selectFrom('messages').select(['status', 'unit_id']).where('id', '=', id);
    // Another unit's message does not exist for this caller.
    if (unitId !== undefined) query = query.where('unit_id', '=', unitId);
    // PostgreSQL: hold the row until the change is written, so a worker cannot claim it in
    // between. (SQLite's write lock, taken at BEGIN IMMEDIATE, already does.)
    query = handle.dialect.lockRowsForUpdate(query);
    const row = await query.executeTakeFirst();
    if (!row) return { kind: 'not_found' } as const;
    const status = row.status as MessageStatus;
    if (!allowed.includes(status)) return { kind: 'wrong_status', status } as const;
    await change(trx);
    await insertAuditEvent(trx, audit(row.unit_id));
    return { kind: 'changed' } as const;
  });
  if (outcome.kind !== 'changed') return outcome;
  const record = await getMessage(handle, id);
  return record ? { kind: 'changed', record } : { kind: 'not_found' };
}
