import type { DatabaseHandle } from '../engine/handle.ts';

/** Removes a unit's relay and the events still queued for it; true if it had one. */
export async function removeEventRelay(handle: DatabaseHandle, unitId: string): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    await trx.deleteFrom('sendgrid_relay_events').where('unit_id', '=', unitId).execute();
    const result = await trx
      .deleteFrom('sendgrid_event_relays')
      .where('unit_id', '=', unitId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
}
