import { type Kysely, sql } from 'kysely';
import { firstIdAt } from '../domain/ids.ts';
import type { DatabaseHandle } from './engine/database.ts';
import type { Database } from './schema.ts';

/**
 * SQLite only: fills the subject word index (FTS5 table `messages_fts`) in the background, in
 * message id order. Indexing in the insert would cost ~20 µs per message on the API's critical
 * path; here it costs the same once, in small batches off it. Messages newer than the index are
 * still found: the subject filter scans them directly (message-conditions.ts).
 *
 * Only messages whose ids are LAG_MS old are indexed, so a message whose commit came late (its
 * id is taken when the request arrives) is not skipped. Each batch and its progress commit in one
 * write transaction, so two processes doing this at once cannot index a message twice.
 */
const STATE_NAME = 'messages_fts';
const LAG_MS = 10_000;
/** Messages per transaction: ~20 ms of writing, so submissions are not held up for long. */
const BATCH = 1_000;

/** The last message id in the subject index ('' when none). */
export async function subjectIndexedThrough(db: Kysely<Database>): Promise<string> {
  const row = await db
    .selectFrom('search_index_state')
    .select('indexed_through')
    .where('name', '=', STATE_NAME)
    .executeTakeFirst();
  return row?.indexed_through ?? '';
}

/** Indexes one batch; returns how many messages it indexed (0: caught up). */
export async function indexSubjects(handle: DatabaseHandle, now: number): Promise<number> {
  if (handle.engine !== 'sqlite') return 0;
  return handle.writeTransaction(async (trx) => {
    const from = await subjectIndexedThrough(trx);
    const rows = await trx
      .selectFrom('messages')
      .select(['id', 'subject'])
      .select(sql<number>`rowid`.as('row_id'))
      .where('id', '>', from)
      .where('id', '<', firstIdAt('msg', now - LAG_MS))
      .orderBy('id')
      .limit(BATCH)
      .execute();
    const last = rows[rows.length - 1];
    if (!last) return 0;
    // The rowid lets retention's delete trigger find the entry; searches read message_id.
    const values = sql.join(rows.map((r) => sql`(${r.row_id}, ${r.subject}, ${r.id})`));
    // OR REPLACE: after a VACUUM renumbered rowids, a stale entry may hold the rowid.
    await sql`insert or replace into messages_fts (rowid, subject, message_id) values ${values}`.execute(
      trx,
    );
    await trx
      .insertInto('search_index_state')
      .values({ name: STATE_NAME, indexed_through: last.id })
      .onConflict((oc) => oc.column('name').doUpdateSet({ indexed_through: last.id }))
      .execute();
    return rows.length;
  });
}
