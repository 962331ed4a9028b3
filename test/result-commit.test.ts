import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { Completion } from '../src/domain/ports/delivery-store.ts';
import type { DatabaseHandle } from '../src/store/index.ts';
import { createStores, migrateToLatest, openDatabase } from '../src/store/index.ts';
import { TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * Delivery results commit with `asyncCommit` (TEGAMI_RESULT_COMMIT=async, the default): visible
 * at once, on disk a moment later. On SQLite that is the deferred fsync (wal-sync.test.ts holds the
 * fsyncs to show it); on PostgreSQL it is `synchronous_commit = off` for that transaction alone,
 * checked here on the real server.
 */
describe('write transactions with asyncCommit', () => {
  const temp = tempDatabase();
  const handle = openDatabase(temp.url);
  after(async () => {
    await handle.close();
    await temp.cleanup();
  });

  test('commit what they wrote, and leave other transactions synchronous', async () => {
    await migrateToLatest(handle.db);
    await sql`create table result_commit_test (value text)`.execute(handle.db);
    const setting = async (db: Parameters<Parameters<typeof handle.writeTransaction>[0]>[0]) =>
      (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db)).rows[0]
        ?.synchronous_commit;

    const inside = await handle.writeTransaction(
      async (trx) => {
        await sql`insert into result_commit_test (value) values ('a')`.execute(trx);
        return TEST_ENGINE === 'postgres' ? setting(trx) : null;
      },
      { asyncCommit: true },
    );
    const stored = await sql<{ value: string }>`select value from result_commit_test`.execute(
      handle.db,
    );
    assert.equal(stored.rows[0]?.value, 'a', 'the write is committed and visible');

    if (TEST_ENGINE === 'postgres') {
      assert.equal(inside, 'off', 'no WAL flush awaited inside');
      const plain = await handle.writeTransaction((trx) => setting(trx));
      assert.equal(plain, 'on', 'the next transaction on the pool waits for its flush again');
    }
  });
});

describe('the delivery store', () => {
  /** The options each write transaction was asked with; the work itself is not run. */
  function recordingHandle() {
    const asked: ({ asyncCommit?: boolean } | undefined)[] = [];
    const handle = {
      writeConcurrency: 1,
      writeTransaction: async (_work: unknown, options?: { asyncCommit?: boolean }) => {
        asked.push(options);
      },
    } as unknown as DatabaseHandle;
    return { handle, asked };
  }
  const completion = { messageId: 'msg_1', leaseOwner: 'w', now: 0 } as unknown as Completion;

  test('writes results with asyncCommit only when told resultCommit: async', async () => {
    for (const [resultCommit, expected] of [
      ['async', true],
      ['sync', false],
      [undefined, false],
    ] as const) {
      const { handle, asked } = recordingHandle();
      const stores = createStores(handle, {
        sandboxOutboxLimit: 10,
        ...(resultCommit ? { resultCommit } : {}),
      });
      await stores.delivery.complete(completion);
      assert.equal(asked.length, 1);
      assert.equal(asked[0]?.asyncCommit, expected, `resultCommit ${resultCommit}`);
    }
  });
});
