import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { takenOverBy } from './rows.ts';

/**
 * Gives suppressions that came from delivery events not matched to a message (entries of no
 * unit) the unit of the message their event was matched to later, so that unit's keys see and
 * may remove it; run by the maintenance job. A unit with an entry for the address already keeps
 * that one, and the unmatched entry is dropped, its address still suppressed by the unit's own;
 * but if the unit's entry is of events and the unmatched entry's event is the earlier, the unit's
 * entry takes that event's reason, key, detail and address first, as it would have had the event
 * been matched at once (store/events/suppress-addresses.ts).
 */
export async function assignSuppressionUnits(
  trx: Kysely<Database>,
  dialect: Dialect,
): Promise<void> {
  await trx
    .updateTable('suppressions')
    .from(
      trx
        .selectFrom('suppressions as s')
        .innerJoin('delivery_events as e', 'e.event_key', 's.event_key')
        .innerJoin('messages as m', 'm.id', 'e.message_id')
        .select([
          's.email_normalized',
          'm.unit_id',
          's.email',
          's.reason',
          's.event_key',
          's.event_occurred_at',
          's.detail',
        ])
        .where('s.unit_id', 'is', null)
        .where('s.source', '=', 'event')
        .as('matched'),
    )
    .set((eb) => ({
      email: eb.ref('matched.email'),
      reason: eb.ref('matched.reason'),
      event_key: eb.ref('matched.event_key'),
      event_occurred_at: eb.ref('matched.event_occurred_at'),
      detail: eb.ref('matched.detail'),
    }))
    .whereRef('suppressions.email_normalized', '=', 'matched.email_normalized')
    .whereRef('suppressions.unit_id', '=', 'matched.unit_id')
    .where(takenOverBy(dialect, 'suppressions', 'matched'))
    .execute();
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
