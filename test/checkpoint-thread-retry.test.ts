// tegami-test: no-database

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { openSqlite } from '../src/store/engine/sqlite.ts';
import { waitFor } from './helpers.ts';

/**
 * A disk-full drill: the WAL checkpoint thread met SQLITE_FULL once and stopped for good, and the
 * writers checkpointed in their commits until the process was restarted, long after the disk had
 * room again. A failing pass now hands the checkpoints to the writers for as long as it fails, and
 * the thread takes them back once a pass works.
 *
 * The full disk is this process's file-size limit (`prlimit --fsize`): the WAL fits under it, the
 * database file cannot grow to take the WAL's pages, so every checkpoint fails with
 * SQLITE_FULL. Raising the limit again is the disk getting room.
 */
const canLimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return process.platform === 'linux';
  } catch {
    return false;
  }
})();

describe('the checkpoint thread after a full disk', { skip: !canLimit && 'needs prlimit' }, () => {
  test('hands checkpoints to the writers while it fails, and takes them back', async (t) => {
    const folder = mkdtempSync(join(tmpdir(), 'tegami-checkpoint-retry-'));
    const logLines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    );
    const path = join(folder, 'a.db');
    const handle = openSqlite(`sqlite:${path}`, { checkpoints: 'thread', logger });
    const limit = (soft: string) =>
      execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${soft}:unlimited`]);
    t.after(async () => {
      limit('unlimited');
      await handle.close();
      rmSync(folder, { recursive: true, force: true });
    });
    const autocheckpoint = async () =>
      Number(
        (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(handle.db))
          .rows[0]?.wal_autocheckpoint,
      );
    const blob = 'x'.repeat(3_000);
    const insert = (rows: number) =>
      handle.writeTransaction(async (trx) => {
        for (let i = 0; i < rows; i++) {
          await sql`insert into t (body) values (${blob})`.execute(trx);
        }
      });

    /**
     * Whether the thread's pass finished: every frame of the WAL is in the database file (the
     * wal-index's mxFrame and nBackfill, in the -shm file, in this machine's byte order). The
     * file reaches its size before that pass's fsync; a limit set then, from a size still
     * growing, left the WAL un-restarted and the next insert past the limit (SQLITE_FULL).
     */
    const walCopied = () => {
      const shm = readFileSync(`${path}-shm`);
      const u32 = (at: number) =>
        endianness() === 'LE' ? shm.readUInt32LE(at) : shm.readUInt32BE(at);
      return u32(16) > 0 && u32(96) === u32(16);
    };

    await sql`create table t (id integer primary key, body text)`.execute(handle.db);
    await insert(300);
    // The thread copied the first ~1 MB into the database file, all of it.
    await waitFor(async () => statSync(path).size > 900_000 && walCopied(), 'the first checkpoint');
    assert.ok((await autocheckpoint()) > 1000, 'the thread copies: the writers only backstop');

    limit(String(statSync(path).size + 64 * 1024));
    await insert(100);
    await waitFor(
      async () => logLines.some((l) => l.includes('background WAL checkpoints failing')),
      'the thread telling its passes fail',
    );
    assert.equal(
      await autocheckpoint(),
      1000,
      "the writers checkpoint in their commits (SQLite's default)",
    );
    assert.equal(
      logLines.filter((l) => l.includes('background WAL checkpoints failing')).length,
      1,
      'told once, not at each retry',
    );
    assert.match(logLines.find((l) => l.includes('failing')) ?? '', /disk|full/i);

    limit('unlimited');
    await waitFor(
      async () => logLines.some((l) => l.includes('background WAL checkpoints work again')),
      'the thread working again',
      45_000,
    );
    assert.ok((await autocheckpoint()) > 1000, 'the thread copies again');
    await waitFor(async () => statSync(path).size > 1_200_000, 'the rows copied into the file');
  });
});
