import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { ensureSubjectIndexStatistics, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * After an upgrade from a release without PostgreSQL's subject index table, the table fills in
 * seconds but has no statistics until autovacuum gets to it; an upgrade drill's first subject
 * search took over two minutes meanwhile. A catch-up of many messages now gathers them once.
 */
describe(`the subject index's statistics (${TEST_ENGINE})`, () => {
  test('are gathered once when the table has none, and left to autovacuum after', async () => {
    const handle = openDatabase(tempDatabase().url);
    try {
      await migrateToLatest(handle.db);
      if (TEST_ENGINE !== 'postgres') {
        assert.equal(await ensureSubjectIndexStatistics(handle), false, 'SQLite: nothing to do');
        return;
      }
      const reltuples = async () =>
        Number(
          (
            await sql<{ reltuples: number }>`select reltuples from pg_class
              where oid = to_regclass('messages_subject_index')`.execute(handle.db)
          ).rows[0]?.reltuples,
        );
      assert.equal(await reltuples(), -1, 'a new table has never been analyzed');
      assert.equal(await ensureSubjectIndexStatistics(handle), true);
      assert.ok((await reltuples()) >= 0, 'analyzed');
      assert.equal(await ensureSubjectIndexStatistics(handle), false, 'once only');
    } finally {
      await handle.close();
    }
  });
});
