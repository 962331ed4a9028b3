import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import SqliteDatabase from 'better-sqlite3';
import {
  message,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  type TestService,
} from './helpers.ts';

// Another connection to the same file holds SQLite's write lock: in a real deployment another
// process (a `sqlite3` shell in a transaction, `tegami worker` beside `tegami api`). The service
// runs in this test's process, so had it waited in SQLite's busy handler, this test's own timers
// would have stood still with it.
describe('SQLite locked by another connection', {
  skip: TEST_ENGINE !== 'sqlite' && 'SQLite only',
}, () => {
  let svc: TestService;
  let holder: SqliteDatabase.Database;
  before(async () => {
    // With its worker, as `tegami serve` runs: the worker writes on timers of its own (its view
    // of the provider every second, leases), and none of that may stop the process either.
    svc = await startTestService();
    holder = new SqliteDatabase(svc.databaseUrl.slice('sqlite:'.length));
  });
  after(async () => {
    if (holder.inTransaction) holder.exec('rollback');
    holder.close();
    await svc.stop();
  });

  test("a lock held for 3 s: the event loop never stops, the worker's timers included", async () => {
    // The worker has published its view of the provider at least once (it does every second).
    await sleep(1_500);
    holder.exec('begin immediate');
    let last = performance.now();
    let longestGap = 0;
    const ticks = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 20);
    try {
      await sleep(3_000);
      assert.equal((await svc.request('GET', '/healthz')).status, 200);
    } finally {
      clearInterval(ticks);
      holder.exec('rollback');
    }
    // A write asleep in SQLite's busy handler stopped the loop for the whole hold (10 s measured
    // with the worker's once-a-second writes outside a transaction).
    assert.ok(longestGap < 1_000, `the event loop stood still for ${Math.round(longestGap)} ms`);
  });

  test('reads are answered while a submission waits for the lock, which then succeeds', async () => {
    const first = await svc.request('POST', '/v1/messages', message({ subject: 'before' }));
    assert.equal(first.status, 202);

    holder.exec('begin immediate');
    let submitted = false;
    const waiting = svc
      .request('POST', '/v1/messages', message({ subject: 'while locked' }))
      .finally(() => {
        submitted = true;
      });
    await sleep(300);
    const read = await svc.request('GET', `/v1/messages/${first.body.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.subject, 'before');
    const ready = await svc.request('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(submitted, false, 'the submission waits while the lock is held');
    assert.equal(holder.inTransaction, true);
    holder.exec('rollback');

    const second = await waiting;
    assert.equal(second.status, 202, JSON.stringify(second.body));
    const rows = await queryDatabase<{ subject: string }>(
      svc.databaseUrl,
      'select subject from messages where id = ?',
      [second.body.id],
    );
    assert.deepEqual(rows, [{ subject: 'while locked' }]);
  });

  test('a lock held past 5 s: the write gets 503 and leaves nothing; the next one succeeds', {
    timeout: 30_000,
  }, async () => {
    holder.exec('begin immediate');
    let refused: Awaited<ReturnType<TestService['request']>>;
    try {
      refused = await svc.request('POST', '/v1/messages', message({ subject: 'gave up' }));
    } finally {
      holder.exec('rollback');
    }
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'storage_unavailable');
    assert.equal(refused.headers.get('retry-after'), '1', 'worth trying again in a moment');
    const rows = await queryDatabase(
      svc.databaseUrl,
      "select id from messages where subject = 'gave up'",
    );
    assert.deepEqual(rows, []);

    const after = await svc.request('POST', '/v1/messages', message({ subject: 'after' }));
    assert.equal(after.status, 202);
  });
});
