import { sql } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * How many of the endpoint's status webhooks are waiting to be posted (`pending`), counted up to
 * `upTo`: a count over at most `upTo` entries of an `(endpoint_id, status, …)` index, whatever
 * the endpoint's backlog. Nothing is read into the process but the number.
 */
export async function countPendingDeliveries(
  handle: DatabaseHandle,
  endpointId: string,
  upTo: number,
): Promise<number> {
  const row = await pendingCountQuery(handle, endpointId, upTo).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The query of countPendingDeliveries (its plan is checked by the tests). */
export function pendingCountQuery(handle: DatabaseHandle, endpointId: string, upTo: number) {
  const upToLimit = handle.db
    .selectFrom('webhook_deliveries')
    .select(sql<number>`1`.as('one'))
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .limit(upTo);
  return handle.db.selectFrom(upToLimit.as('p')).select((eb) => eb.fn.countAll<number>().as('n'));
}
