import type { EventRelay } from '../../domain/ports/sendgrid-event-relay-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { getEventRelay } from './get-event-relay.ts';

/**
 * Creates a unit's relay with `keys`, or changes the URL of the one it has and keeps its key
 * pair, so the receiver's verification key stays valid when the URL moves.
 */
export async function putEventRelay(
  handle: DatabaseHandle,
  unitId: string,
  url: string,
  keys: { publicKey: string; privateKey: string },
  now: number,
): Promise<EventRelay> {
  await handle.writeTransaction(async (trx) => {
    await trx
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
      .execute();
  });
  const relay = await getEventRelay(handle, unitId);
  if (!relay) throw new Error(`the event relay of ${unitId} was written but cannot be read`);
  return relay;
}
