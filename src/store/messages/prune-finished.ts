import { type Kysely, sql } from 'kysely';
import { firstIdAt } from '../../domain/ids.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';

/**
 * Deletes up to `limit` finished (sent, failed, cancelled) messages created before `before`,
 * with their recipients, categories, metadata, attempts and delivery events. Ids are
 * time-ordered ULIDs, so the scan is a primary-key range; the caller keeps `limit` small enough
 * for the transaction to be short (ops/cluster-jobs.ts).
 *
 * A message still waiting in a running recovery is kept until the recovery has acted on it: an
 * operator asked for it. PostgreSQL: the messages are locked as they are picked, and one another
 * transaction holds (a retry or cancel of that very message, a recovery's chunk) is skipped, so
 * a message that stops being finished meanwhile is not deleted under it. SQLite's write lock
 * already keeps such changes out of the transaction.
 */
export function pruneFinishedMessages(
  handle: DatabaseHandle,
  before: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    const rows = await finishedMessagesToPrune(handle, trx, before, limit).execute();
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    for (const table of [
      'recipients',
      'message_categories',
      'message_metadata',
      'attempts',
      'delivery_events',
    ] as const) {
      await trx.deleteFrom(table).where('message_id', 'in', ids).execute();
    }
    await trx.deleteFrom('messages').where('id', 'in', ids).execute();
    return ids.length;
  });
}

/** The ids of the next `limit` messages to prune (exported for the test of its plan). */
export function finishedMessagesToPrune(
  handle: DatabaseHandle,
  db: Kysely<Database>,
  before: number,
  limit: number,
) {
  return handle.dialect.skipLocked(
    db
      // In id order from the oldest, stopping at `limit`: SQLite chose the status index
      // otherwise, and read and sorted every old finished message for each transaction.
      .selectFrom(handle.dialect.throughIndex('messages', 'sqlite_autoindex_messages_1'))
      .select('id')
      .where('id', '<', firstIdAt('msg', before))
      .where('status', 'in', ['sent', 'failed', 'cancelled'])
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('recovery_items')
              .select('recovery_items.message_id')
              .whereRef('recovery_items.message_id', '=', 'messages.id')
              // A literal, so that the partial index of pending entries serves it.
              .where('recovery_items.state', '=', sql.lit('pending')),
          ),
        ),
      )
      .orderBy('id')
      .limit(limit),
  );
}
