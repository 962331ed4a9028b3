import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { openSqlite, sqlitePathFromUrl } from '../src/store/engine/sqlite.ts';
import { openDatabase } from '../src/store/index.ts';
import { message, startTestService, TEST_ENGINE, waitFor } from './helpers.ts';

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
    let stopped = false;
    t.after(() => (stopped ? undefined : svc.stop()));
    const kept = await svc.request('POST', '/v1/messages', message());
    assert.equal(kept.status, 202);
    assert.equal((await svc.request('GET', '/readyz')).status, 200);

    unlinkSync(sqlitePathFromUrl(svc.databaseUrl));

    const ready = await svc.request('GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.error.code, 'not_ready');
    assert.match(ready.body.error.message, /was deleted or moved while this process had it open/);
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

    // Its data was copied to a file of its own at once, so a stop now loses nothing.
    const saved = await waitFor(async () => {
      const m = /its data was saved to (\S+):/.exec(
        (await svc.request('GET', '/readyz')).body.error.message,
      );
      return m?.[1];
    }, 'the copy of the deleted database');
    t.after(() => rmSync(saved, { force: true }));
    assert.ok(saved.startsWith(`${sqlitePathFromUrl(svc.databaseUrl)}.rescued-`), saved);
    await svc.stop();
    stopped = true;
    const copy = new SqliteDatabase(saved, { readonly: true });
    try {
      const ids = copy.prepare('select id from messages').pluck().all();
      assert.deepEqual(ids, [kept.body.id], 'the accepted message, not the refused one');
      assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      copy.close();
    }
  });

  test('a write transaction open when the deletion is noticed is in the saved copy', async (t) => {
    // /readyz (or another thread) may notice the deletion while a write transaction that began
    // before it is still open. SQLite's backup then meets this connection's own write lock.
    const dir = mkdtempSync(join(tmpdir(), 'tegami-rescue-busy-'));
    const path = join(dir, 'tegami.db');
    const handle = openSqlite(`sqlite:${path}`);
    t.after(async () => {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await sql`create table t (id integer primary key, body text)`.execute(handle.db);
    await handle.writeTransaction(async (trx) => {
      await sql`insert into t (body) values ('before')`.execute(trx);
    });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let written = false;
    const open = handle.writeTransaction(async (trx) => {
      await sql`insert into t (body) values ('during')`.execute(trx);
      written = true;
      await gate;
    });
    // The transaction holds its write (and the lock) before the file goes.
    await waitFor(async () => written, 'the open transaction to write');
    unlinkSync(path);
    assert.match(handle.fileGone?.() ?? '', /was deleted or moved/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await open; // committed: acknowledged, so it must be in the copy
    const saved = await waitFor(
      async () => /its data was saved to (\S+):/.exec(handle.fileGone?.() ?? '')?.[1],
      'the copy of the deleted database',
    );
    assert.ok(existsSync(saved), `${saved} named as saved, but not there`);
    const copy = new SqliteDatabase(saved, { readonly: true });
    try {
      assert.deepEqual(copy.prepare('select body from t order by id').pluck().all(), [
        'before',
        'during',
      ]);
    } finally {
      copy.close();
    }
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
