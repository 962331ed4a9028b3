import type { Kysely } from 'kysely';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';

/**
 * Deletes up to `limit` idempotency keys used before `olderThan`, oldest first; returns how many.
 * The caller keeps `limit` small enough for the transaction to be short (ops/cluster-jobs.ts):
 * one delete of every expired key held SQLite's write lock for as long as a day's keys took to
 * delete, the first round after a stop of a day or more.
 */
export async function pruneIdempotencyKeys(
  handle: DatabaseHandle,
  olderThan: number,
  limit: number,
): Promise<number> {
  const result = await handle.writeTransaction(
    (trx) => expiredIdempotencyKeysDelete(trx, olderThan, limit).executeTakeFirst(),
    { asyncCommit: true },
  );
  return Number(result.numDeletedRows);
}

/**
 * The delete of the oldest `limit` keys used before `olderThan`, in one statement: found through
 * the `created_at` index, deleted by their primary key (exported for the test of its plan).
 */
export function expiredIdempotencyKeysDelete(
  db: Kysely<Database>,
  olderThan: number,
  limit: number,
) {
  return db
    .deleteFrom('idempotency_keys')
    .where(({ eb, refTuple, selectFrom }) =>
      eb(
        refTuple('api_key_id', 'key'),
        'in',
        selectFrom('idempotency_keys')
          .select(['api_key_id', 'key'])
          .where('created_at', '<', olderThan)
          .orderBy('created_at')
          .limit(limit)
          .$asTuple('api_key_id', 'key'),
      ),
    );
}
