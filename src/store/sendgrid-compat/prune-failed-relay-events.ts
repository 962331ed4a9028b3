import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Forgets relayed events given up on and queued before `before` (message retention): their
 * messages and delivery events are gone by then too. At most `limit` rows per call, so one
 * maintenance round stays short.
 */
export async function pruneFailedRelayEvents(
  handle: DatabaseHandle,
  before: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    const old = trx
      .selectFrom('sendgrid_relay_events')
      .select('event_key')
      .where('status', '=', 'failed')
      .where('queued_at', '<', before)
      .limit(limit);
    const result = await trx
      .deleteFrom('sendgrid_relay_events')
      .where('event_key', 'in', old)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  });
}
