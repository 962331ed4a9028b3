import type { RelayCounts } from '../../domain/ports/sendgrid-event-relay-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/** How many of a unit's events wait to be posted, and how many were given up. */
export async function countRelayedEvents(
  handle: DatabaseHandle,
  unitId: string,
): Promise<RelayCounts> {
  const rows = await handle.db
    .selectFrom('sendgrid_relay_events')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('unit_id', '=', unitId)
    .groupBy('status')
    .execute();
  const counts: RelayCounts = { pending: 0, failed: 0 };
  for (const row of rows) {
    if (row.status === 'pending' || row.status === 'failed') counts[row.status] = Number(row.n);
  }
  return counts;
}
