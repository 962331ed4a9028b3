// tegami-test: no-database

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import { openSqlite } from '../src/store/engine/sqlite.ts';
import { SharedWriteLock } from '../src/store/engine/write-lock.ts';
import { waitFor } from './helpers.ts';

/**
 * The parts `tegami serve` uses to put SQLite on several threads: the write lock the threads
 * share, and the thread that checkpoints the WAL while they write.
 */
const THREAD_BOOTSTRAP = new URL('../bin/ts-thread.js', import.meta.url);

describe('the shared write lock', () => {
  test('two threads adding to one cell under it lose no update', async () => {
    const lock = new SharedWriteLock();
    const cell = new SharedArrayBuffer(4);
    const counter = new Int32Array(cell);
    const rounds = 2_000;
    const other = new Worker(THREAD_BOOTSTRAP, {
      workerData: {
        module: new URL('./support/write-lock-thread.ts', import.meta.url).href,
        lock: lock.buffer,
        cell,
        rounds,
      },
    });
    const otherDone = new Promise((resolve, reject) => {
      other.once('message', resolve);
      other.once('error', reject);
    });
    for (let i = 0; i < rounds; i++) {
      await lock.hold(async () => {
        const seen = counter[0] ?? 0;
        // The other thread would add meanwhile if the lock let it in.
        await new Promise((resolve) => setImmediate(resolve));
        counter[0] = seen + 1;
      });
    }
    await otherDone;
    await other.terminate();
    assert.equal(counter[0], 2 * rounds);
  });

  test('waiting for it does not stop the waiting thread', async () => {
    const lock = new SharedWriteLock();
    await lock.acquire();
    let second = false;
    const waiting = lock.hold(async () => {
      second = true;
    });
    // The event loop still turns while the second holder waits.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(second, false);
    lock.release();
    await waiting;
    assert.equal(second, true);
  });
});

describe('checkpoints on a thread of their own', () => {
  const folder = mkdtempSync(join(tmpdir(), 'tegami-checkpoints-'));
  const blob = 'x'.repeat(3_000);

  test('the database file gets what was committed, without the writer checkpointing', async (t) => {
    t.after(() => rmSync(folder, { recursive: true, force: true }));
    const path = join(folder, 'a.db');
    const handle = openSqlite(`sqlite:${path}`, { checkpoints: 'thread' });
    try {
      await sql`create table t (id integer primary key, body text)`.execute(handle.db);
      // ~12 MB in one transaction: the writer's own checkpoint starts at ~200 MB.
      await handle.writeTransaction(async (trx) => {
        for (let i = 0; i < 4_000; i++) {
          await sql`insert into t (body) values (${blob})`.execute(trx);
        }
      });
      // The writer checkpoints in a commit only past wal_autocheckpoint pages; the commit wrote
      // ~3,000. (The file's size right after the commit is no evidence: the thread may have
      // copied the WAL already, while the commit's fsync ran.)
      const autocheckpoint = await sql<{
        wal_autocheckpoint: number;
      }>`pragma wal_autocheckpoint`.execute(handle.db);
      const threshold = Number(autocheckpoint.rows[0]?.wal_autocheckpoint);
      assert.ok(threshold > 3_500, `the writer checkpoints only after ${threshold} pages`);
      await waitFor(
        async () => statSync(path).size > 12_000_000,
        'the checkpoint thread to copy the WAL into the file',
        10_000,
      );
    } finally {
      await handle.close();
    }
  });

  test('bulk writes leave the WAL to the thread, which copies it all once they are done', async () => {
    const path = join(folder, 'c.db');
    const handle = openSqlite(`sqlite:${path}`, { checkpoints: 'thread' });
    try {
      await sql`create table t (id integer primary key, body text)`.execute(handle.db);
      await waitFor(async () => statSync(path).size > 0, 'the table in the database file', 10_000);
      const before = statSync(path).size;
      // ~60 MB in bulk transactions of ~6 MB, one after another (a recovery's chunks): past the
      // writers' usual backstop (~32 MB), and the thread has time for many passes meanwhile.
      for (let round = 0; round < 20; round++) {
        await handle.writeTransaction(
          async (trx) => {
            for (let i = 0; i < 2_000; i++) {
              await sql`insert into t (body) values (${blob})`.execute(trx);
            }
          },
          { bulk: true },
        );
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(
        statSync(path).size - before < 1_000_000,
        'nobody copied the WAL into the file while the bulk writes went on',
      );
      assert.ok(statSync(`${path}-wal`).size > 50_000_000, 'the WAL holds them');
      await waitFor(
        async () => statSync(path).size - before > 50_000_000,
        'the thread to copy the WAL once the bulk writes are over',
        20_000,
      );
      // A small write after them finds the WAL copied: it starts over and is cut back.
      await waitFor(
        async () => {
          await handle.writeTransaction(async (trx) => {
            await sql`insert into t (body) values ('after')`.execute(trx);
          });
          return statSync(`${path}-wal`).size <= 64 * 1024 * 1024 * 1.1;
        },
        'the WAL to start over',
        20_000,
      );
    } finally {
      await handle.close();
    }
  });

  test('a WAL written to without pause still starts over: it stays bounded', async () => {
    const path = join(folder, 'b.db');
    const handle = openSqlite(`sqlite:${path}`, { checkpoints: 'thread' });
    try {
      await sql`create table t (id integer primary key, body text)`.execute(handle.db);
      let largestWal = 0;
      // ~120 MB in transactions of ~300 KB, one after another: no quiet moment for the WAL to
      // empty in, so without the thread's pass under the lock it would only grow.
      for (let round = 0; round < 400; round++) {
        await handle.writeTransaction(async (trx) => {
          for (let i = 0; i < 100; i++) {
            await sql`insert into t (body) values (${blob})`.execute(trx);
          }
        });
        largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
      }
      assert.ok(
        largestWal < 80_000_000,
        `the WAL grew to ${Math.round(largestWal / 1e6)} MB for ~120 MB written`,
      );
    } finally {
      await handle.close();
    }
  });
});
