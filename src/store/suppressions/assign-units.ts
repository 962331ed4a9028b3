import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';

/**
 * Gives suppressions that came from delivery events the unit of the message whose event it was,
 * so that unit's keys see it. Run in the ingest transaction for new entries, and by the
 * maintenance job for events matched to their message later.
 */
export async function assignSuppressionUnits(
  trx: Kysely<Database>,
  eventKeys: string[] | 'unassigned',
): Promise<void> {
  const assign = (keys: string[] | null) => {
    let update = trx
      .updateTable('suppressions')
      .set((eb) => ({
        unit_id: eb
          .selectFrom('delivery_events')
          .innerJoin('messages', 'messages.id', 'delivery_events.message_id')
          .select('messages.unit_id')
          .whereRef('delivery_events.event_key', '=', 'suppressions.event_key'),
      }))
      .where('unit_id', 'is', null)
      .where('source', '=', 'event');
    if (keys) update = update.where('event_key', 'in', keys);
    return update.execute();
  };
  if (eventKeys === 'unassigned') {
    await assign(null);
    return;
  }
  for (const part of chunks(eventKeys)) await assign(part);
}
