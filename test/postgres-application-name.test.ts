import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * During an incident a DBA looks at `pg_stat_activity` to see which process holds a lock or runs
 * a long statement. Each process names its connections after its role (`tegami api`, `tegami
 * worker`, `tegami serve`, `tegami migrate`; `tegami` for other commands), unless the URL or
 * PGAPPNAME names them.
 */
describe('PostgreSQL connections are named', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only',
}, () => {
  const nameOf = async (url: string, applicationName?: string) => {
    const handle = openDatabase(url, applicationName ? { applicationName } : {});
    try {
      const result = await sql<{
        name: string;
      }>`select current_setting('application_name') as name`.execute(handle.db);
      return result.rows[0]?.name;
    } finally {
      await handle.close();
    }
  };

  test('after the process’s role, `tegami` by default, or as the URL says', async () => {
    const db = tempDatabase();
    try {
      assert.equal(await nameOf(db.url, 'tegami worker'), 'tegami worker');
      assert.equal(await nameOf(db.url), 'tegami');
      const named = new URL(db.url);
      named.searchParams.set('application_name', 'bookings-mailer');
      assert.equal(await nameOf(named.toString(), 'tegami api'), 'bookings-mailer');
    } finally {
      await db.cleanup();
    }
  });
});
