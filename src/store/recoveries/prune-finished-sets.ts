import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes up to `limit` set entries of recoveries that finished before `before`. */
export function pruneFinishedSets(
  handle: DatabaseHandle,
  before: number,
  limit: number,
): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    const ended = await trx
      .selectFrom('recoveries')
      .select('id')
      .where('state', '<>', 'running')
      .where('finished_at', '<', before)
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('recovery_items')
            .select('recovery_items.message_id')
            .whereRef('recovery_items.recovery_id', '=', 'recoveries.id'),
        ),
      )
      .execute();
    let deleted = 0;
    for (const { id } of ended) {
      if (deleted >= limit) break;
      // The first `limit - deleted` entries by primary key: a range delete, not a list.
      const boundary = await trx
        .selectFrom('recovery_items')
        .select('message_id')
        .where('recovery_id', '=', id)
        .orderBy('message_id')
        .offset(limit - deleted - 1)
        .limit(1)
        .executeTakeFirst();
      let query = trx.deleteFrom('recovery_items').where('recovery_id', '=', id);
      if (boundary) query = query.where('message_id', '<=', boundary.message_id);
      deleted += Number((await query.executeTakeFirst()).numDeletedRows);
    }
    return deleted;
  });
}
