import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import { searchedPartOfSubject } from '../../domain/operations/message-query.ts';
import type { SubjectPlan } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { subjectWordsVector } from './subject-folding.ts';

/**
 * Each engine's subject word index (the dialects' subject members): searching it, and adding
 * messages to it in the background (index-subjects.ts). Words come from subjectWords(): all of
 * them must be in the subject, as whole words in any case and without Latin accents. Messages
 * newer than the index (ids after `indexedThrough`) are matched on the subject itself, by the
 * same rules.
 */

/**
 * PostgreSQL: the tsvector table, and the same expression on the subject for newer messages.
 * Per message, a look-up of the message's own row in the table (its primary key): the same
 * index entries as the set of ids, so the same answer.
 */
export function postgresSubjectMatch(
  words: string[],
  indexedThrough: string,
  plan: SubjectPlan,
): Expression<SqlBool> {
  const id = sql.ref('messages.id');
  const query = sql`plainto_tsquery('simple', ${words.join(' ')})`;
  const newerHasWords = (subject: ReturnType<typeof sql.ref>) =>
    sql`${subjectWordsVector(subject)} @@ ${query}`;
  if (plan === 'matching-ids') {
    // One set of ids, the index's and the newer messages', so that a few ids can drive the query.
    return sql<SqlBool>`${id} in (select message_id from messages_subject_index where words @@ ${query}
      union all select newer.id from messages as newer
        where newer.id > ${indexedThrough} and ${newerHasWords(sql.ref('newer.subject'))})`;
  }
  return sql<SqlBool>`(exists (select 1 from messages_subject_index
        where messages_subject_index.message_id = ${id} and messages_subject_index.words @@ ${query})
      or (${id} > ${indexedThrough} and ${newerHasWords(sql.ref('messages.subject'))}))`;
}

/**
 * SQLite: the FTS5 table, and the same rules in JS (tegami_has_words) for newer messages. Per
 * message, those rules on every subject: an FTS5 entry cannot be found by its message (its rowid
 * is the message's rowid when indexed, which a VACUUM may renumber; the message id is not
 * indexed), and the JS rules are the index's (test/message-filters.test.ts checks they agree).
 */
export function sqliteSubjectMatch(
  words: string[],
  indexedThrough: string,
  plan: SubjectPlan,
): Expression<SqlBool> {
  const hasWords = (subject: ReturnType<typeof sql.ref>) =>
    sql<SqlBool>`tegami_has_words(${subject}, ${words.join(' ')})`;
  if (plan === 'per-message') return hasWords(sql.ref('messages.subject'));
  // One set of ids, the index's and the newer messages': with `id in (…) or …` SQLite reads
  // every message to test it, with one set a few ids drive the query.
  return sql<SqlBool>`${sql.ref('messages.id')} in (select message_id from messages_fts where messages_fts match ${ftsQuery(words)}
    union all select newer.id from messages as newer
      where newer.id > ${indexedThrough} and ${hasWords(sql.ref('newer.subject'))})`;
}

/** An FTS5 query for all of `words` (subjectWords() makes them of letters and digits only). */
export function ftsQuery(words: string[]): string {
  return words.map((w) => `"${w}"`).join(' ');
}

/** PostgreSQL: one INSERT … SELECT computing the tsvectors. */
export async function addToPostgresSubjectIndex(
  trx: Kysely<Database>,
  after: string,
  before: string,
  limit: number,
): Promise<{ count: number; last: string | undefined }> {
  const rows = await sql<{
    message_id: string;
  }>`insert into messages_subject_index (message_id, words)
      select id, ${subjectWordsVector(sql.ref('subject'))} from messages
      where id > ${after} and id < ${before} order by id limit ${limit}
      on conflict (message_id) do nothing
      returning message_id`.execute(trx);
  let last: string | undefined;
  for (const r of rows.rows) if (last === undefined || r.message_id > last) last = r.message_id;
  return { count: rows.rows.length, last };
}

/** SQLite: the subjects read, then written into the FTS5 table. */
export async function addToSqliteSubjectIndex(
  trx: Kysely<Database>,
  after: string,
  before: string,
  limit: number,
): Promise<{ count: number; last: string | undefined }> {
  const rows = await trx
    .selectFrom('messages')
    .select(['id', 'subject'])
    .select(sql<number>`rowid`.as('row_id'))
    .where('id', '>', after)
    .where('id', '<', before)
    .orderBy('id')
    .limit(limit)
    .execute();
  if (rows.length > 0) {
    // The rowid lets retention's delete trigger find the entry; searches read message_id.
    // OR REPLACE: after a VACUUM renumbered rowids, a stale entry may hold the rowid.
    const values = sql.join(
      rows.map((r) => sql`(${r.row_id}, ${searchedPartOfSubject(r.subject)}, ${r.id})`),
    );
    await sql`insert or replace into messages_fts (rowid, subject, message_id) values ${values}`.execute(
      trx,
    );
  }
  return { count: rows.length, last: rows[rows.length - 1]?.id };
}
