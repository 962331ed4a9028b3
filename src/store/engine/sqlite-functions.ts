import type SqliteDatabase from 'better-sqlite3';
import { hasAllWords } from '../../domain/operations/message-query.ts';

/**
 * SQL functions SQLite lacks, written in JS. `tegami_has_words(subject, words)`: every word
 * (space-separated, as subjectWords() makes them) is a word of the subject. It searches the
 * messages the FTS index has not reached yet with the same rules as the index.
 */
export function registerSqliteFunctions(sqlite: SqliteDatabase.Database): void {
  sqlite.function(
    'tegami_has_words',
    { deterministic: true },
    (subject: unknown, words: unknown) =>
      typeof subject === 'string' && typeof words === 'string'
        ? Number(hasAllWords(subject, words.split(' ')))
        : 0,
  );
}
