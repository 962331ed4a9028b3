import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { sqlitePathFromUrl } from '../src/store/engine/sqlite.ts';
import { backupSqliteDatabase } from '../src/store/engine/sqlite-backup.ts';
import {
  message,
  runTegami,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
} from './helpers.ts';

/**
 * The runbook's backup used the `sqlite3` program, which a fresh machine does not have.
 * `tegami backup <file>` copies the database while the service goes on accepting mail: a copy
 * of one moment that holds every message accepted before it began, and one that restores.
 */
describe('tegami backup', { skip: TEST_ENGINE !== 'sqlite' && 'SQLite only' }, () => {
  test('copies the database while mail is accepted; the copy restores', async (t) => {
    const folder = mkdtempSync(join(tmpdir(), 'tegami-backup-'));
    const temp = tempDatabase();
    t.after(async () => {
      rmSync(folder, { recursive: true, force: true });
      await temp.cleanup();
    });
    const env = { TEGAMI_DATABASE_URL: temp.url };
    let svc = await startTestService(env);
    let accepted: string[] = [];
    let submitting = true;
    // Eight clients submitting all along, so the copy is taken while commits go on.
    const clients = Array.from({ length: 8 }, async () => {
      while (submitting) {
        const r = await svc.request('POST', '/v1/messages', message());
        assert.equal(r.status, 202);
        accepted.push(r.body.id);
      }
    });
    while (accepted.length < 200) await new Promise((r) => setTimeout(r, 20));
    const acceptedBefore = accepted.length;
    const file = join(folder, 'tegami-backup.db');
    const done = await runTegami(['backup', file], env);
    const acceptedAfter = accepted.length;
    submitting = false;
    await Promise.all(clients);
    assert.equal(done.code, 0, done.output);
    assert.match(
      done.output,
      new RegExp(
        `Backed up .* to ${file}: [\\d,]+ messages, [\\d.]+ MB, in [\\d.]+ s \\(integrity check: ok\\)`,
      ),
    );
    assert.equal(existsSync(`${file}-wal`), false, 'one file');
    assert.deepEqual(
      readdirSync(folder).filter((f) => f.includes('.partial')),
      [],
      'no partial copy left',
    );

    const copy = new SqliteDatabase(file, { readonly: true });
    const ids = new Set(copy.prepare('select id from messages').pluck().all() as string[]);
    copy.close();
    assert.ok(ids.size >= acceptedBefore, `${ids.size} of ${acceptedBefore} accepted before`);
    assert.ok(ids.size <= acceptedAfter);
    for (const id of accepted.slice(0, acceptedBefore)) assert.ok(ids.has(id), id);

    // Again to the same name: refused, the first copy untouched.
    const again = await runTegami(['backup', file], env);
    assert.equal(again.code, 73, again.output);
    assert.match(again.output, /exists already: give the backup a new name/);

    // Restored as the runbook says: stop, put the copy in place, start.
    await svc.stop();
    const path = sqlitePathFromUrl(temp.url);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    renameSync(file, path);
    svc = await startTestService(env);
    try {
      const first = accepted[0] ?? '';
      assert.equal((await svc.request('GET', `/v1/messages/${first}`)).status, 200);
      const listed = await svc.request('GET', '/v1/messages?limit=1');
      assert.equal(listed.status, 200);
    } finally {
      await svc.stop();
    }
    accepted = [];
  });

  test('finishes while another connection keeps growing the database', async (t) => {
    // A copy in steps sized by the last step's page count starts over after every commit in
    // between, and never finishes while the database grows.
    const folder = mkdtempSync(join(tmpdir(), 'tegami-backup-'));
    const source = join(folder, 'source.db');
    const writer = new SqliteDatabase(source);
    writer.pragma('journal_mode = WAL');
    writer.exec('create table messages (id integer primary key, body text)');
    const insert = writer.prepare('insert into messages (body) values (?)');
    const blob = 'x'.repeat(3_000);
    writer.transaction(() => {
      for (let i = 0; i < 2_000; i++) insert.run(blob);
    })();
    let writing = true;
    const grow = () => {
      if (!writing) return;
      insert.run(blob);
      setImmediate(grow);
    };
    setImmediate(grow);
    t.after(() => {
      writing = false;
      writer.close();
      rmSync(folder, { recursive: true, force: true });
    });
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      backupSqliteDatabase(source, join(folder, 'copy.db')),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), 20_000);
      }),
    ]);
    clearTimeout(timer);
    writing = false;
    assert.ok(done, 'the backup finished');
    assert.ok(done.messages >= 2_000, String(done.messages));
  });

  test('says why it cannot: no database, a folder that is not there, PostgreSQL', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'tegami-backup-'));
    try {
      const missing = await runTegami(['backup', join(folder, 'copy.db')], {
        TEGAMI_DATABASE_URL: `sqlite:${join(folder, 'nothing-here.db')}`,
      });
      assert.equal(missing.code, 66, missing.output);
      assert.match(missing.output, /there is no database at .*nothing-here\.db/);
      assert.equal(existsSync(join(folder, 'nothing-here.db')), false, 'no empty database made');

      const temp = tempDatabase();
      try {
        const svc = await startTestService({ TEGAMI_DATABASE_URL: temp.url });
        await svc.stop();
        const nowhere = await runTegami(['backup', join(folder, 'no', 'such', 'copy.db')], {
          TEGAMI_DATABASE_URL: temp.url,
        });
        assert.equal(nowhere.code, 73, nowhere.output);
        assert.match(nowhere.output, /there is no folder .*no[/\\]such to write copy\.db in/);
      } finally {
        await temp.cleanup();
      }

      const pg = await runTegami(['backup', join(folder, 'copy.db')], {
        TEGAMI_DATABASE_URL: 'postgres://tegami@127.0.0.1:1/tegami',
      });
      assert.equal(pg.code, 64, pg.output);
      assert.match(pg.output, /use pg_dump/);
      const usage = await runTegami(['backup'], { TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY });
      assert.equal(usage.code, 64, usage.output);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
