import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sqlitePathFromUrl } from '../src/store/engine/sqlite.ts';
import { openDatabase } from '../src/store/index.ts';
import { message, startTestService, TEST_ENGINE } from './helpers.ts';

/**
 * A resource-exhaustion drill deleted `tegami.db` under a running `tegami serve`: SQLite went on
 * writing to the unlinked file, the API answered `202` and `/readyz` `200`, and after a restart
 * `tegami serve` made a new, empty database: 1,796 accepted messages were gone without a word.
 */
describe('the database file deleted while in use', {
  skip: TEST_ENGINE !== 'sqlite' && 'SQLite only',
}, () => {
  test('/readyz answers 503 and submissions are refused once the file is gone', async (t) => {
    const svc = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    t.after(() => svc.stop());
    const kept = await svc.request('POST', '/v1/messages', message());
    assert.equal(kept.status, 202);
    assert.equal((await svc.request('GET', '/readyz')).status, 200);

    unlinkSync(sqlitePathFromUrl(svc.databaseUrl));

    const ready = await svc.request('GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.error.code, 'not_ready');
    assert.match(ready.body.error.message, /was deleted or moved while this process had it open/);
    if (process.platform === 'linux') {
      assert.match(ready.body.error.message, /readable at \/proc\/\d+\/fd\/\d+/);
    }
    const refused = await svc.request(
      'POST',
      '/v1/messages',
      message({ subject: 'into the void' }),
    );
    assert.equal(refused.status, 503, 'not 202 for mail that the next start would not find');
    assert.equal(refused.body.error.code, 'storage_unavailable');
    // Reads go on from the open file; the process stays alive.
    assert.equal((await svc.request('GET', `/v1/messages/${kept.body.id}`)).status, 200);
    assert.equal((await svc.request('GET', '/healthz')).status, 200);
  });

  test('a start refuses a -wal file without its database instead of making an empty one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tegami-orphan-wal-'));
    try {
      const path = join(dir, 'tegami.db');
      writeFileSync(`${path}-wal`, Buffer.alloc(4096, 1));
      assert.throws(() => openDatabase(`sqlite:${path}`), /is missing but .*-wal .* is there/);
      assert.equal(existsSync(path), false, 'no empty database made in its place');
      // An empty -wal (nothing committed in it) is no evidence: the database is made as before.
      writeFileSync(`${path}-wal`, '');
      const handle = openDatabase(`sqlite:${path}`);
      void handle.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
