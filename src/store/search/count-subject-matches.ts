import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.ts';
import { ftsQuery } from './subject-search.ts';

/**
 * Each engine's count of the messages the subject index has for some words, read up to a bound
 * (Dialect.countSubjectMatches): it tells a subject condition whether its ids are few enough to
 * read as a set (SubjectPlan), at the cost of reading that many index entries at most.
 */

/** PostgreSQL: the index entries with all the words, read up to `atMost` (the GIN index). */
export async function countPostgresSubjectMatches(
  db: Kysely<Database>,
  words: string[],
  atMost: number,
): Promise<number> {
  const { rows } = await sql<{ n: string | number }>`select count(*) as n from (
      select 1 from messages_subject_index
      where words @@ plainto_tsquery('simple', ${words.join(' ')}) limit ${atMost}) as matching`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0);
}

/** SQLite: the FTS5 entries with all the words, read up to `atMost` (their rowids only). */
export async function countSqliteSubjectMatches(
  db: Kysely<Database>,
  words: string[],
  atMost: number,
): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*) as n from (
      select rowid from messages_fts where messages_fts match ${ftsQuery(words)} limit ${atMost})`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0);
}
