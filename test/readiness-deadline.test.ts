import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { READINESS_TIMEOUT_MS } from '../src/cli/readiness.ts';
import { startTestService, TEST_ENGINE, type TestService } from './helpers.ts';

/**
 * A PostgreSQL drill held a table lock for 30 s and `/readyz` waited all along: a load balancer
 * saw a timeout instead of a reason, and every probe (one a second) took a pool connection of its
 * own. Now `/readyz` answers 503 within READINESS_TIMEOUT_MS, and the probes that arrive while a
 * check hangs share it. The lock is held on the table the check reads first (the migrations').
 */
describe('/readyz while the database does not answer', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only (a reader cannot be held on SQLite)',
}, () => {
  let tegami: TestService;
  let locker: pg.Client;
  let table: string;
  before(async () => {
    tegami = await startTestService();
    const url = new URL(tegami.databaseUrl);
    const schema = url.searchParams.get('schema');
    url.searchParams.delete('schema');
    table = schema ? `${schema}.kysely_migration` : 'kysely_migration';
    locker = new pg.Client({ connectionString: url.toString() });
    await locker.connect();
  });
  after(async () => {
    await locker?.end();
    await tegami?.stop();
  });

  test('is answered 503 in bounded time, with one check waiting however many probes come', async () => {
    assert.equal((await tegami.request('GET', '/readyz')).status, 200);
    await locker.query('begin');
    await locker.query(`lock table ${table} in access exclusive mode`);
    try {
      const started = performance.now();
      const probes = await Promise.all(
        [0, 300, 600, 900, 1_200].map(async (delay) => {
          await new Promise((r) => setTimeout(r, delay));
          return tegami.request('GET', '/readyz');
        }),
      );
      const elapsed = performance.now() - started;
      for (const probe of probes) {
        assert.equal(probe.status, 503, JSON.stringify(probe.body));
        assert.match(probe.body.error.message, /did not answer within 2 s/);
      }
      assert.ok(elapsed < 1_200 + READINESS_TIMEOUT_MS + 1_500, `${elapsed} ms`);
      const waiting = await locker.query<{ n: number }>(
        'select count(*)::int as n from pg_locks where not granted and relation = $1::regclass',
        [table],
      );
      assert.equal(waiting.rows[0]?.n, 1, 'one check waits for the lock, not one per probe');
    } finally {
      await locker.query('rollback');
    }
    assert.equal((await tegami.request('GET', '/readyz')).status, 200);
  });
});
