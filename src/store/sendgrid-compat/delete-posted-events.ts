import type { DatabaseHandle } from '../engine/handle.ts';
import { chunks } from '../write/insert-rows.ts';

/** Posted events leave the queue: the receiver answered 2xx. */
export async function deletePostedEvents(handle: DatabaseHandle, eventKeys: string[]) {
  for (const part of chunks(eventKeys)) {
    await handle.writeTransaction((trx) =>
      trx.deleteFrom('sendgrid_relay_events').where('event_key', 'in', part).execute(),
    );
  }
}
