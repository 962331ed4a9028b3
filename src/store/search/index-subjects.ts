import { type Kysely, sql } from 'kysely';
import { firstIdAt } from '../../domain/ids.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';

/**
 * Fills the subject word index in the background, in message id order: SQLite's FTS5 table
 * `messages_fts`, PostgreSQL's `messages_subject_index` (tsvectors, GIN-indexed); the dialect
 * adds to its own (subject-search.ts). Indexing in the insert would cost on the API's critical
 * path (SQLite ~20 µs a message; PostgreSQL a third of its ingest throughput, measured); here it
 * costs about the same once, in small batches off it. Messages newer than the index are still
 * found: the subject filter looks at them directly (Dialect.subjectMatch).
 *
 * Only messages whose ids are LAG_MS old are indexed, so a message whose commit came late (its
 * id is taken when the request arrives) is not skipped. Each batch and its progress commit in one
 * transaction that holds the progress row (SQLite's write lock, PostgreSQL's row lock), so two
 * processes doing this at once cannot index a message twice.
 */
const LAG_MS = 10_000;
/** Messages per transaction: tens of milliseconds, so submissions are not held up for long. */
const BATCH = 1_000;

/** The last message id in the subject index ('' when none). */
export async function subjectIndexedThrough(handle: DatabaseHandle): Promise<string> {
  const row = await handle.db
    .selectFrom('search_index_state')
    .select('indexed_through')
    .where('name', '=', handle.dialect.subjectIndexName)
    .executeTakeFirst();
  return row?.indexed_through ?? '';
}

/** Indexes one batch; returns how many messages it indexed (0: caught up). */
export async function indexSubjects(handle: DatabaseHandle, now: number): Promise<number> {
  const { dialect } = handle;
  const name = dialect.subjectIndexName;
  return handle.writeTransaction(async (trx) => {
    await trx
      .insertInto('search_index_state')
      .values({ name, indexed_through: '' })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const state = dialect.lockRowsForUpdate(
      trx.selectFrom('search_index_state').select('indexed_through').where('name', '=', name),
    );
    const from = (await state.executeTakeFirstOrThrow()).indexed_through;
    const { count, last } = await dialect.addToSubjectIndex(
      trx,
      from,
      firstIdAt('msg', now - LAG_MS),
      BATCH,
    );
    if (last === undefined) return 0;
    await trx
      .updateTable('search_index_state')
      .set({ indexed_through: last })
      .where('name', '=', name)
      .execute();
    return count;
  });
}

/**
 * Gathers the subject index's statistics if it has none yet; true when it did (the dialect's
 * `gatherSubjectIndexStatistics`: SQLite has nothing to do).
 */
export function ensureSubjectIndexStatistics(handle: DatabaseHandle): Promise<boolean> {
  return handle.dialect.gatherSubjectIndexStatistics(handle.db);
}

/**
 * PostgreSQL's `gatherSubjectIndexStatistics` (`pg_class.reltuples` is -1 until a table is first
 * analyzed). After an upgrade from a release without the table, the background fill adds every
 * existing message within seconds, but autovacuum analyzes it only later: until then the planner
 * takes it for empty and checked each message against the whole table, and an upgrade drill's
 * first subject search took over two minutes (0.26 s once analyzed). Later changes are
 * autovacuum's.
 */
export async function gatherPostgresSubjectIndexStatistics(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ reltuples: number | string }>`select c.reltuples from pg_class c
      where c.oid = to_regclass('messages_subject_index')`.execute(db);
  if (rows.length === 0 || Number(rows[0]?.reltuples) >= 0) return false;
  await sql`analyze messages_subject_index`.execute(db);
  return true;
}
