import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { EventRelay } from '../../domain/ports/sendgrid-event-relay-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toEventRelay } from './get-event-relay.ts';

/**
 * Creates a unit's relay with `keys`, or changes the URL of the one it has and keeps its key
 * pair, so the receiver's verification key stays valid when the URL moves; `audit` is written in
 * the same transaction. The relay returned is the row the statement wrote: read again
 * afterwards, a removal at the same moment made it missing (a 500 on PostgreSQL).
 */
export async function putEventRelay(
  handle: DatabaseHandle,
  unitId: string,
  url: string,
  keys: { publicKey: string; privateKey: string },
  now: number,
  audit: AuditEvent,
): Promise<EventRelay> {
  const row = await handle.writeTransaction(async (trx) => {
    const written = await trx
      .insertInto('sendgrid_event_relays')
      .values({
        unit_id: unitId,
        url,
        public_key: keys.publicKey,
        private_key: keys.privateKey,
        created_at: now,
        updated_at: now,
      })
      .onConflict((c) => c.column('unit_id').doUpdateSet({ url, updated_at: now }))
      .returningAll()
      .executeTakeFirstOrThrow();
    await insertAuditEvent(trx, audit);
    return written;
  });
  return toEventRelay(row);
}
