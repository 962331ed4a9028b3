// tegami-test: no-database

import assert from 'node:assert/strict';
import fs, { mkdtempSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { sql } from 'kysely';
import { openSqlite } from '../src/store/engine/sqlite.ts';
import {
  DEFERRED_SYNC_MS,
  INLINE_FSYNC_BACKOFF_MS,
  INLINE_FSYNC_SLOW_MS,
  WalSync,
} from '../src/store/engine/wal-sync.ts';
import { migrateToLatest } from '../src/store/index.ts';
import { findIdempotent } from '../src/store/messages/find-idempotent.ts';
import { waitFor } from './helpers.ts';

/**
 * SQLite write transactions commit without an fsync and are answered once the WAL has been
 * fsync'd off the thread (store/engine/wal-sync.ts): nobody hears "done" before it is on disk.
 */

/** An fsync that finishes when the test says so. */
function controlledFsync() {
  const started: { finish: () => void; fail: (error: Error) => void }[] = [];
  const fsync = () =>
    new Promise<void>((resolve, reject) => {
      started.push({ finish: resolve, fail: reject });
    });
  return { fsync, started };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function tracked<T>(promise: Promise<T>) {
  const state = { done: false, failed: null as unknown };
  promise.then(
    () => {
      state.done = true;
    },
    (error) => {
      state.failed = error;
    },
  );
  return state;
}

describe('WalSync', () => {
  test('a sync with none under way starts an fsync at once and resolves with it', async () => {
    const { fsync, started } = controlledFsync();
    const sync = new WalSync(fsync);
    const first = tracked(sync.sync());
    assert.equal(started.length, 1);
    await settle();
    assert.equal(first.done, false);
    started[0]?.finish();
    await settle();
    assert.equal(first.done, true);
  });

  test('syncs asked for during an fsync share one fsync that starts after it', async () => {
    const { fsync, started } = controlledFsync();
    const sync = new WalSync(fsync);
    const first = tracked(sync.sync());
    // Written after the first fsync began: it may not cover them.
    const later = [tracked(sync.sync()), tracked(sync.sync()), tracked(sync.sync())];
    assert.equal(started.length, 1, 'no second fsync while one runs');
    started[0]?.finish();
    await settle();
    assert.equal(first.done, true);
    assert.deepEqual(
      later.map((s) => s.done),
      [false, false, false],
      'not answered by the fsync that began before them',
    );
    assert.equal(started.length, 2, 'one fsync for the three of them');
    started[1]?.finish();
    await settle();
    assert.deepEqual(
      later.map((s) => s.done),
      [true, true, true],
    );
    assert.equal(started.length, 2);
  });

  test('after a failed fsync every sync fails: nothing later can be promised durable', async () => {
    const { fsync, started } = controlledFsync();
    const sync = new WalSync(fsync);
    const first = tracked(sync.sync());
    const second = tracked(sync.sync());
    started[0]?.fail(new Error('EIO'));
    await settle();
    await settle();
    assert.equal((first.failed as Error).message, 'EIO');
    assert.equal((second.failed as Error).message, 'EIO', 'the one that waited fails too');
    const third = tracked(sync.sync());
    await settle();
    assert.equal((third.failed as Error).message, 'EIO');
    assert.equal(started.length, 1, 'no fsync after the failure could make up for it');
  });

  test('an fsync on the thread that fails fails every later sync, and the other way round', async () => {
    const { fsync, started } = controlledFsync();
    let fail = true;
    const onThread = new WalSync(fsync, undefined, () => {
      if (fail) throw new Error('EIO');
    });
    assert.throws(() => onThread.syncNow(), /EIO/);
    fail = false;
    assert.throws(() => onThread.syncNow(), /EIO/, 'no later fsync can make up for it');
    const later = tracked(onThread.sync());
    await settle();
    assert.equal((later.failed as Error).message, 'EIO');
    assert.equal(started.length, 0);

    const offThread = new WalSync(fsync, undefined, () => {});
    offThread.syncNow();
    const failing = tracked(offThread.sync());
    started[0]?.fail(new Error('EIO'));
    await settle();
    assert.equal((failing.failed as Error).message, 'EIO');
    assert.throws(() => offThread.syncNow(), /EIO/);
  });

  test('a deferred commit rides on the next fsync anyone starts; none is started for it', async () => {
    const { fsync, started } = controlledFsync();
    const sync = new WalSync(fsync);
    sync.syncSoon();
    assert.equal(started.length, 0, 'no fsync of its own at once');
    const next = tracked(sync.sync());
    assert.equal(started.length, 1);
    started[0]?.finish();
    await settle();
    assert.equal(next.done, true);
    await new Promise((resolve) => setTimeout(resolve, DEFERRED_SYNC_MS * 2));
    assert.equal(started.length, 1, 'the fsync that began after it covered it');
  });

  test('syncHere fsyncs on the calling thread before it returns, covering deferred commits', async () => {
    const { fsync, started } = controlledFsync();
    let onThread = 0;
    const sync = new WalSync(
      fsync,
      () => {},
      () => {
        onThread++;
      },
    );
    sync.syncSoon();
    const here = tracked(sync.syncHere());
    assert.equal(onThread, 1, 'done before syncHere returned');
    await settle();
    assert.equal(here.done, true);
    await new Promise((resolve) => setTimeout(resolve, DEFERRED_SYNC_MS * 2));
    assert.equal(started.length, 0, 'the deferred commit needed no fsync of its own');
  });

  test('slow fsyncs on the calling thread go to the thread pool for a while, then back', async () => {
    const { fsync, started } = controlledFsync();
    let now = 0;
    let took = 0.5;
    let onThread = 0;
    const sync = new WalSync(
      fsync,
      () => {},
      () => {
        onThread++;
        now += took;
      },
      () => now,
    );
    for (let i = 0; i < 50; i++) await sync.syncHere();
    assert.equal(onThread, 50, 'fast ones stay on the thread');
    assert.equal(started.length, 0);
    took = 4 * INLINE_FSYNC_SLOW_MS;
    let slow = 0;
    while (started.length === 0 && slow < 100) {
      const next = sync.syncHere();
      if (started.length === 0) {
        await next;
        slow++;
      } else {
        started[0]?.finish();
        await next;
      }
    }
    assert.ok(slow >= 2 && slow < 20, `${slow} slow fsyncs before the pool took over`);
    assert.equal(started.length, 1, 'then the pool');
    took = 0.5;
    now += INLINE_FSYNC_BACKOFF_MS / 2;
    const pooled = sync.syncHere();
    assert.equal(started.length, 2, 'still the pool');
    started[1]?.finish();
    await pooled;
    now += INLINE_FSYNC_BACKOFF_MS;
    const before = onThread;
    await sync.syncHere();
    assert.equal(onThread, before + 1, 'the thread again after INLINE_FSYNC_BACKOFF_MS');
  });

  test('a failed fsync on the calling thread fails syncHere and every later sync', async () => {
    const { fsync } = controlledFsync();
    const sync = new WalSync(
      fsync,
      () => {},
      () => {
        throw new Error('EIO');
      },
    );
    await assert.rejects(sync.syncHere(), /EIO/);
    await assert.rejects(sync.sync(), /EIO/);
    await assert.rejects(sync.syncHere(), /EIO/);
  });

  test('a deferred commit nobody else syncs is fsync’d within DEFERRED_SYNC_MS', async () => {
    const { fsync, started } = controlledFsync();
    const sync = new WalSync(fsync);
    const asked = Date.now();
    sync.syncSoon();
    sync.syncSoon();
    await waitFor(async () => started.length === 1, 'the deferred fsync', 5_000, 5);
    assert.ok(Date.now() - asked >= DEFERRED_SYNC_MS - 5, 'not before its time');
    started[0]?.finish();
    await settle();
    await new Promise((resolve) => setTimeout(resolve, DEFERRED_SYNC_MS * 2));
    assert.equal(started.length, 1, 'one fsync for both');
  });

  test('a deferred commit made while an fsync runs is not covered by it', async () => {
    const { fsync, started } = controlledFsync();
    const sync = new WalSync(fsync);
    void sync.sync();
    sync.syncSoon();
    started[0]?.finish();
    await settle();
    await waitFor(async () => started.length === 2, 'an fsync after the deferred commit', 5_000, 5);
  });

  test('close fsyncs a deferred commit before it closes the file', async () => {
    const { fsync, started } = controlledFsync();
    let closed = false;
    const sync = new WalSync(fsync, () => {
      closed = true;
    });
    sync.syncSoon();
    const closing = tracked(sync.close());
    await settle();
    assert.equal(started.length, 1, 'close started the fsync at once');
    assert.equal(closed, false);
    started[0]?.finish();
    await settle();
    await settle();
    assert.equal(closing.done, true);
    assert.equal(closed, true);
  });

  test('close waits for the syncs asked for, then closes the file', async () => {
    const { fsync, started } = controlledFsync();
    let closed = false;
    const sync = new WalSync(fsync, () => {
      closed = true;
    });
    void sync.sync();
    void sync.sync();
    const closing = tracked(sync.close());
    started[0]?.finish();
    await settle();
    assert.equal(closed, false, 'the second fsync is still to come');
    started[1]?.finish();
    await settle();
    assert.equal(closing.done, true);
    assert.equal(closed, true);
  });
});

describe('SQLite write transactions and the WAL fsync', () => {
  /**
   * A database whose WAL fsyncs wait until the test releases them: every fdatasync of the process
   * (SQLite's own fsyncs do not go through `fs`, WalSync's do) is held in `held`.
   */
  function withHeldFsyncs(t: TestContext) {
    const folder = mkdtempSync(join(tmpdir(), 'tegami-wal-sync-'));
    const held: (() => void)[] = [];
    /** The same fsyncs, ended with an error instead (the file is not synced). */
    const failures: ((error: NodeJS.ErrnoException) => void)[] = [];
    const original = fs.fdatasync;
    fs.fdatasync = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      held.push(() => original(fd, callback));
      failures.push((error) => callback(error));
    }) as typeof fs.fdatasync;
    syncBuiltinESMExports();
    const handle = openSqlite(`sqlite:${join(folder, 'a.db')}`);
    t.after(async () => {
      for (const release of held.splice(0)) release();
      fs.fdatasync = original;
      syncBuiltinESMExports();
      await handle.close();
      rmSync(folder, { recursive: true, force: true });
    });
    return { handle, held, failures };
  }

  test('a write transaction resolves only after the WAL is fsync’d, and the lock is free meanwhile', async (t) => {
    const { handle, held } = withHeldFsyncs(t);
    await sql`create table t (id integer primary key, body text)`.execute(handle.db);

    const first = tracked(
      handle.writeTransaction((trx) => sql`insert into t (body) values ('a')`.execute(trx)),
    );
    await waitFor(async () => held.length === 1, 'the WAL’s fsync to begin', 15_000, 1);
    assert.equal(first.done, false, 'not answered before the fsync is done');

    // The commit itself is over and the lock free: another transaction commits meanwhile.
    const second = tracked(
      handle.writeTransaction((trx) => sql`insert into t (body) values ('b')`.execute(trx)),
    );
    await waitFor(
      async () =>
        (await sql<{ n: number }>`select count(*) as n from t`.execute(handle.db)).rows[0]?.n === 2,
      'the second commit',
      15_000,
      1,
    );
    assert.equal(first.done, false);
    assert.equal(second.done, false);

    held.shift()?.();
    await waitFor(async () => first.done, 'the first transaction to resolve', 15_000, 1);
    assert.equal(second.done, false, 'the second commit waits for an fsync that began after it');
    await waitFor(async () => held.length === 1, 'the second fsync to begin', 15_000, 1);
    held.shift()?.();
    await waitFor(async () => second.done, 'the second transaction to resolve', 15_000, 1);
  });

  test('with fsync "inline" a write transaction fsyncs the WAL on the calling thread before it resolves', async (t) => {
    const folder = mkdtempSync(join(tmpdir(), 'tegami-wal-inline-'));
    const original = { sync: fs.fdatasyncSync, async: fs.fdatasync };
    let onThread = 0;
    let onPool = 0;
    fs.fdatasyncSync = ((fd: number) => {
      onThread++;
      original.sync(fd);
    }) as typeof fs.fdatasyncSync;
    fs.fdatasync = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      onPool++;
      original.async(fd, callback);
    }) as typeof fs.fdatasync;
    syncBuiltinESMExports();
    const handle = openSqlite(`sqlite:${join(folder, 'a.db')}`, { fsync: 'inline' });
    t.after(async () => {
      fs.fdatasyncSync = original.sync;
      fs.fdatasync = original.async;
      syncBuiltinESMExports();
      await handle.close();
      rmSync(folder, { recursive: true, force: true });
    });
    await handle.writeTransaction((trx) =>
      sql`create table t (id integer primary key)`.execute(trx),
    );
    const [thread, pool] = [onThread, onPool];
    await handle.writeTransaction((trx) => sql`insert into t default values`.execute(trx));
    assert.equal(onThread, thread + 1, 'one fsync on the thread');
    assert.equal(onPool, pool, 'none on the pool');
  });

  test('an asyncCommit transaction is answered before the fsync, which follows within DEFERRED_SYNC_MS', async (t) => {
    const { handle, held } = withHeldFsyncs(t);
    await sql`create table t (id integer primary key, body text)`.execute(handle.db);
    for (const release of held.splice(0)) release();

    await handle.writeTransaction((trx) => sql`insert into t (body) values ('a')`.execute(trx), {
      asyncCommit: true,
    });
    assert.equal(held.length, 0, 'answered with no fsync begun');
    const rows = await sql<{ n: number }>`select count(*) as n from t`.execute(handle.db);
    assert.equal(rows.rows[0]?.n, 1, 'committed');
    await waitFor(async () => held.length === 1, 'the deferred fsync', 5_000, 5);

    // A plain transaction after it still waits for an fsync of its own.
    held.shift()?.();
    const plain = tracked(
      handle.writeTransaction((trx) => sql`insert into t (body) values ('b')`.execute(trx)),
    );
    await waitFor(async () => held.length === 1, 'the plain transaction’s fsync', 15_000, 1);
    assert.equal(plain.done, false);
    held.shift()?.();
    await waitFor(async () => plain.done, 'the plain transaction', 15_000, 1);
  });

  test('a stored idempotent answer is replayed only once its commit is on disk', async (t) => {
    const { handle, held } = withHeldFsyncs(t);
    await migrateToLatest(handle.db);
    for (const release of held.splice(0)) release();
    const stored = tracked(
      handle.writeTransaction((trx) =>
        trx
          .insertInto('idempotency_keys')
          .values({
            api_key_id: 'key_1',
            key: 'booking-42',
            request_hash: 'h',
            response_status: 202,
            response_body: '{}',
            created_at: Date.now(),
          })
          .execute(),
      ),
    );
    await waitFor(async () => held.length === 1, 'the WAL’s fsync to begin', 15_000, 1);
    // Committed, so a read finds it; the answer must not go out before the fsync.
    const replay = tracked(findIdempotent(handle, 'key_1', 'booking-42'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(stored.done, false);
    assert.equal(replay.done, false, 'not replayed while its commit is not yet durable');
    await waitFor(
      async () => {
        for (const release of held.splice(0)) release();
        return replay.done;
      },
      'the replay after the fsync',
      15_000,
      1,
    );
    assert.equal(stored.done, true);
  });

  test('a statement that commits on its own is fsync’d before it returns; SQLite itself commits with NORMAL', async (t) => {
    const folder = mkdtempSync(join(tmpdir(), 'tegami-wal-sync-'));
    let onThread = 0;
    const original = fs.fdatasyncSync;
    fs.fdatasyncSync = ((fd: number) => {
      onThread++;
      original(fd);
    }) as typeof fs.fdatasyncSync;
    syncBuiltinESMExports();
    const handle = openSqlite(`sqlite:${join(folder, 'a.db')}`);
    t.after(async () => {
      fs.fdatasyncSync = original;
      syncBuiltinESMExports();
      await handle.close();
      rmSync(folder, { recursive: true, force: true });
    });
    const level = async () =>
      (await sql<{ synchronous: number }>`pragma synchronous`.execute(handle.db)).rows[0]
        ?.synchronous;
    const count = async () =>
      (await sql<{ n: number }>`select count(*) as n from t`.execute(handle.db)).rows[0]?.n;

    await sql`create table t (id integer primary key, body text unique)`.execute(handle.db);
    assert.equal(onThread, 1, 'a schema change is a commit of its own');
    await sql`insert into t (body) values ('a')`.execute(handle.db);
    assert.equal(onThread, 2, 'fsync’d before the insert returned');
    assert.equal(await count(), 1);
    assert.equal(await level(), 1, 'NORMAL: SQLite does not fsync in its commits');
    assert.equal(onThread, 2, 'reads are not fsync’d');

    await assert.rejects(sql`insert into t (body) values ('a')`.execute(handle.db), /UNIQUE/);
    assert.equal(onThread, 2, 'nothing committed, nothing to fsync');

    await handle.writeTransaction(async (trx) => {
      await sql`insert into t (body) values ('b')`.execute(trx);
      await sql`insert into t (body) values ('c')`.execute(trx);
    });
    assert.equal(onThread, 2, 'a write transaction’s fsync is done off the thread');
    await assert.rejects(
      handle.writeTransaction((trx) => sql`insert into t (body) values ('a')`.execute(trx)),
      /UNIQUE/,
    );
    assert.equal(await count(), 3, 'the failed transaction was rolled back');
    await sql`delete from t where body = 'c'`.execute(handle.db);
    assert.equal(onThread, 3);
    assert.equal(await count(), 2);
  });

  test('after a failed fsync nothing more is committed, in a write transaction or alone', async (t) => {
    const { handle, held, failures } = withHeldFsyncs(t);
    await sql`create table t (id integer primary key, body text)`.execute(handle.db);
    const count = async () =>
      (await sql<{ n: number }>`select count(*) as n from t`.execute(handle.db)).rows[0]?.n;
    const first = handle.writeTransaction((trx) =>
      sql`insert into t (body) values ('a')`.execute(trx),
    );
    await waitFor(async () => held.length === 1, 'the WAL’s fsync to begin', 15_000, 1);
    held.splice(0);
    failures.splice(0)[0]?.(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await assert.rejects(first, /EIO/);
    assert.equal(await count(), 1, 'committed (others may have read it), but never acknowledged');
    await assert.rejects(
      handle.writeTransaction((trx) => sql`insert into t (body) values ('b')`.execute(trx)),
      /EIO/,
    );
    await assert.rejects(sql`insert into t (body) values ('c')`.execute(handle.db), /EIO/);
    assert.equal(await count(), 1, 'nothing committed after the failure');
  });

  test('without a WAL (in memory) SQLite’s own FULL does the fsyncs', async (t) => {
    const handle = openSqlite('sqlite::memory:');
    t.after(() => handle.close());
    const level = (await sql<{ synchronous: number }>`pragma synchronous`.execute(handle.db))
      .rows[0]?.synchronous;
    assert.equal(level, 2);
    await sql`create table t (id integer primary key)`.execute(handle.db);
    await handle.writeTransaction((trx) => sql`insert into t default values`.execute(trx));
    const rows = await sql<{ n: number }>`select count(*) as n from t`.execute(handle.db);
    assert.equal(rows.rows[0]?.n, 1);
  });
});
