import assert from 'node:assert/strict';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { describe, test } from 'node:test';
import { message, queryDatabase, startTestService, TEST_ENGINE } from './helpers.ts';

/**
 * After a failed fsync of SQLite's WAL the process fails every later write until it restarts
 * (store/engine/wal-sync.ts). `/readyz` says so, so that a load balancer stops sending it mail
 * and an operator knows what to do; it used to answer 200 while every submission got 503.
 */
describe('readiness after a failed fsync', {
  skip: TEST_ENGINE !== 'sqlite' && 'SQLite only',
}, () => {
  test('/readyz answers 503 naming the failed write once an fsync has failed', async (t) => {
    // Off the thread, so the WAL's fsyncs go through fs.fdatasync, which the test can fail.
    const svc = await startTestService({
      TEGAMI_SQLITE_FSYNC: 'thread',
      TEGAMI_TEST_NO_WORKER: '1',
    });
    const original = fs.fdatasync;
    t.after(async () => {
      fs.fdatasync = original;
      syncBuiltinESMExports();
      await svc.stop();
    });

    const before = await svc.request('GET', '/readyz');
    assert.equal(before.status, 200);
    assert.equal((await svc.request('POST', '/v1/messages', message())).status, 202);

    fs.fdatasync = ((_fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      const error: NodeJS.ErrnoException = new Error('EIO: i/o error, fdatasync');
      error.code = 'EIO';
      process.nextTick(() => callback(error));
    }) as typeof fs.fdatasync;
    syncBuiltinESMExports();

    const refused = await svc.request('POST', '/v1/messages', message({ subject: 'not kept' }));
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'storage_unavailable');

    // The disk works again, but what it may have dropped cannot be known: still not ready.
    fs.fdatasync = original;
    syncBuiltinESMExports();
    const after = await svc.request('GET', '/readyz');
    assert.equal(after.status, 503);
    assert.equal(after.body.error.code, 'not_ready');
    assert.match(after.body.error.message, /EIO/);
    assert.match(after.body.error.message, /restart/);
    assert.equal((await svc.request('GET', '/healthz')).status, 200, 'alive all the same');

    // A write after it is refused before anything of it is committed. (The one whose fsync
    // failed was committed and may be in the file or not: that is why it was answered 503, to be
    // retried with its Idempotency-Key.)
    const count = async () =>
      Number(
        (
          await queryDatabase<{ n: number }>(svc.databaseUrl, 'select count(*) as n from messages')
        )[0]?.n,
      );
    const stored = await count();
    assert.equal((await svc.request('POST', '/v1/messages', message())).status, 503);
    assert.equal(await count(), stored);
  });
});
