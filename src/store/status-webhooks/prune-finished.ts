import { firstIdAt } from '../../domain/ids.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Deletes up to `limit` delivered and failed deliveries made before `before`, oldest first;
 * returns how many. Ids are time-ordered ULIDs made with the delivery, so the scan is a
 * primary-key range over old deliveries only: a round with nothing to delete reads nothing of
 * the delivered history (a condition on `created_at`, which no index holds, read every
 * delivered row each round: 0.6-1 s holding SQLite's write lock at 1.1 million, measured), and
 * a first round over a large history (a shorter retention) is cut into short transactions.
 * Pending ones stay until they are delivered or given up, whatever their age.
 */
export async function pruneFinishedDeliveries(
  handle: DatabaseHandle,
  before: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(
    async (trx) => {
      const rows = await trx
        // SQLite's index of the primary key (SQLite names it): SQLite chose the status index
        // otherwise, and read every delivered row.
        .selectFrom(
          handle.dialect.throughIndex(
            'webhook_deliveries',
            'sqlite_autoindex_webhook_deliveries_1',
          ),
        )
        .select('id')
        .where('id', '<', firstIdAt('whd', before))
        .where('status', 'in', ['delivered', 'failed'])
        .orderBy('id')
        .limit(limit)
        .execute();
      const ids = rows.map((r) => r.id);
      if (ids.length === 0) return 0;
      await trx.deleteFrom('webhook_deliveries').where('id', 'in', ids).execute();
      return ids.length;
    },
    { asyncCommit: true },
  );
}
