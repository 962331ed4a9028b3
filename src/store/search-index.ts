import { sql } from 'kysely';
import { firstIdAt } from '../domain/ids.ts';
import type { DatabaseHandle } from './engine/database.ts';
import type { Database } from './schema.ts';
import { subjectWordsVector } from './subject-folding.ts';

/**
 * Fills the subject word index in the background, in message id order: SQLite's FTS5 table
 * `messages_fts`, PostgreSQL's `messages_subject_index` (tsvectors, GIN-indexed). Indexing in the
 * insert would cost on the API's critical path (SQLite ~20 µs a message; PostgreSQL a third of
 * its ingest throughput, measured); here it costs about the same once, in small batches off it.
 * Messages newer than the index are still found: the subject filter looks at them directly
 * (message-conditions.ts).
 *
 * Only messages whose ids are LAG_MS old are indexed, so a message whose commit came late (its
 * id is taken when the request arrives) is not skipped. Each batch and its progress commit in one
 * transaction that holds the progress row (SQLite's write lock, PostgreSQL's row lock), so two
 * processes doing this at once cannot index a message twice.
 */
const stateName = (handle: { engine: string }) =>
  handle.engine === 'postgres' ? 'messages_subject_index' : 'messages_fts';
const LAG_MS = 10_000;
/** Messages per transaction: tens of milliseconds, so submissions are not held up for long. */
const BATCH = 1_000;

/** The last message id in the subject index ('' when none). */
export async function subjectIndexedThrough(handle: DatabaseHandle): Promise<string> {
  const row = await handle.db
    .selectFrom('search_index_state')
    .select('indexed_through')
    .where('name', '=', stateName(handle))
    .executeTakeFirst();
  return row?.indexed_through ?? '';
}

/** Indexes one batch; returns how many messages it indexed (0: caught up). */
export async function indexSubjects(handle: DatabaseHandle, now: number): Promise<number> {
  return handle.writeTransaction(async (trx) => {
    await trx
      .insertInto('search_index_state')
      .values({ name: stateName(handle), indexed_through: '' })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    let state = trx
      .selectFrom('search_index_state')
      .select('indexed_through')
      .where('name', '=', stateName(handle));
    if (handle.engine === 'postgres') state = state.forUpdate();
    const from = (await state.executeTakeFirstOrThrow()).indexed_through;
    const upTo = firstIdAt('msg', now - LAG_MS);
    let last: string | undefined;
    let count = 0;
    if (handle.engine === 'postgres') {
      const rows = await sql<{
        message_id: string;
      }>`insert into messages_subject_index (message_id, words)
          select id, ${subjectWordsVector(sql.ref('subject'))} from messages
          where id > ${from} and id < ${upTo} order by id limit ${BATCH}
          on conflict (message_id) do nothing
          returning message_id`.execute(trx);
      count = rows.rows.length;
      for (const r of rows.rows) if (last === undefined || r.message_id > last) last = r.message_id;
    } else {
      const rows = await trx
        .selectFrom('messages')
        .select(['id', 'subject'])
        .select(sql<number>`rowid`.as('row_id'))
        .where('id', '>', from)
        .where('id', '<', upTo)
        .orderBy('id')
        .limit(BATCH)
        .execute();
      count = rows.length;
      last = rows[rows.length - 1]?.id;
      if (count > 0) {
        // The rowid lets retention's delete trigger find the entry; searches read message_id.
        // OR REPLACE: after a VACUUM renumbered rowids, a stale entry may hold the rowid.
        const values = sql.join(rows.map((r) => sql`(${r.row_id}, ${r.subject}, ${r.id})`));
        await sql`insert or replace into messages_fts (rowid, subject, message_id) values ${values}`.execute(
          trx,
        );
      }
    }
    if (last === undefined) return 0;
    await trx
      .updateTable('search_index_state')
      .set({ indexed_through: last })
      .where('name', '=', stateName(handle))
      .execute();
    return count;
  });
}
