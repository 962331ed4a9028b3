import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';

/**
 * Gives suppressions that came from delivery events not matched to a message (entries of no
 * unit) the unit of the message their event was matched to later, so that unit's keys see and
 * may remove it; run by the maintenance job. A unit with an entry for the address already keeps
 * that one (its first reason wins, as for events matched at once): the unmatched entry is
 * dropped, its address still suppressed by the unit's own.
 */
export async function assignSuppressionUnits(trx: Kysely<Database>): Promise<void> {
  await trx
    .deleteFrom('suppressions as s')
    .where('s.unit_id', 'is', null)
    .where('s.source', '=', 'event')
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('delivery_events as e')
          .innerJoin('messages as m', 'm.id', 'e.message_id')
          .innerJoin('suppressions as o', (join) =>
            join
              .onRef('o.email_normalized', '=', 's.email_normalized')
              .onRef('o.unit_id', '=', 'm.unit_id'),
          )
          .select(sql`1`.as('one'))
          .whereRef('e.event_key', '=', 's.event_key'),
      ),
    )
    .execute();
  await trx
    .updateTable('suppressions')
    .set((eb) => ({
      unit_id: eb
        .selectFrom('delivery_events')
        .innerJoin('messages', 'messages.id', 'delivery_events.message_id')
        .select('messages.unit_id')
        .whereRef('delivery_events.event_key', '=', 'suppressions.event_key'),
    }))
    .where('unit_id', 'is', null)
    .where('source', '=', 'event')
    .execute();
}
