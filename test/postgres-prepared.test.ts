import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { isRepeatableWrite } from '../src/store/engine/prepared-statements.ts';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { message, startTestService, TEST_ENGINE, tempDatabase } from './helpers.ts';

/**
 * On PostgreSQL the writes a connection repeats are prepared once (TEGAMI_POSTGRES_PREPARE, on by
 * default): PostgreSQL's own list of the session's prepared statements shows what was.
 */
describe('PostgreSQL prepares the writes it repeats', {
  skip: TEST_ENGINE !== 'postgres' && 'PostgreSQL only',
}, () => {
  /**
   * One connection, so that every statement and pg_prepared_statements share a session. (The
   * migrations' own repeated writes are prepared too: only statements on api_keys are looked at.)
   */
  async function openOneConnection(prepare: boolean) {
    const handle = openDatabase(tempDatabase().url, { poolSize: 1, postgresPrepare: prepare });
    await migrateToLatest(handle.db);
    await handle.db
      .insertInto('units')
      .values({ id: 'unit_a', name: 'a', created_at: Date.now() })
      .execute();
    const insertKey = (id: string) =>
      handle.db
        .insertInto('api_keys')
        .values({
          id,
          name: id,
          key_prefix: id,
          key_hash: id,
          unit_id: 'unit_a',
          admin: 0,
          created_at: Date.now(),
        })
        .execute();
    const readKeys = () => handle.db.selectFrom('api_keys').select('id').execute();
    const prepared = async () =>
      (
        await sql<{ name: string; statement: string }>`select name, statement
          from pg_prepared_statements where statement like '%api_keys%' order by name`.execute(
          handle.db,
        )
      ).rows;
    return { handle, insertKey, readKeys, prepared };
  }

  test('a write is prepared at its second call; reads and one-off writes are not', async () => {
    const { handle, insertKey, readKeys, prepared } = await openOneConnection(true);
    try {
      await insertKey('key_1');
      assert.deepEqual(await prepared(), [], 'the first call is unnamed');
      await insertKey('key_2');
      await insertKey('key_3');
      await readKeys();
      await readKeys();
      const named = await prepared();
      assert.equal(named.length, 1, JSON.stringify(named));
      assert.match(named[0]?.statement ?? '', /^insert into "api_keys"/);
      assert.deepEqual((await readKeys()).map((r) => r.id).sort(), ['key_1', 'key_2', 'key_3']);
    } finally {
      await handle.close();
    }
  });

  test('TEGAMI_POSTGRES_PREPARE=off: nothing is prepared', async () => {
    const { handle, insertKey, prepared } = await openOneConnection(false);
    try {
      for (const id of ['key_1', 'key_2', 'key_3']) await insertKey(id);
      assert.deepEqual(await prepared(), []);
    } finally {
      await handle.close();
    }
  });

  test('a prepared statement the server lost fails once, then the connection runs unnamed', async () => {
    const { handle, insertKey, readKeys, prepared } = await openOneConnection(true);
    try {
      await insertKey('key_1');
      await insertKey('key_2');
      assert.equal((await prepared()).length, 1);
      // What a pooler in transaction mode does when it hands the session to someone else.
      await sql`deallocate all`.execute(handle.db);
      await assert.rejects(insertKey('key_3'), (error: { code?: string }) => {
        assert.equal(error.code, '26000');
        return true;
      });
      await insertKey('key_3');
      await insertKey('key_4');
      assert.deepEqual(await prepared(), [], 'nothing is prepared again');
      assert.equal((await readKeys()).length, 4);
    } finally {
      await handle.close();
    }
  });

  test('submissions and deliveries through the service are the same with it', async () => {
    const svc = await startTestService({});
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const accepted = await svc.request('POST', '/v1/messages', message());
        assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
        ids.push(accepted.body.id);
      }
      const deadline = Date.now() + 15_000;
      for (const id of ids) {
        for (;;) {
          const shown = await svc.request('GET', `/v1/messages/${id}`);
          if (shown.body.status === 'sent') break;
          assert.ok(Date.now() < deadline, `${id} still ${shown.body.status}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      await svc.stop();
    }
  });
});

describe('which statements are prepared', () => {
  test('writes, and WITH statements that write; never reads, nor writes over an array of ids', () => {
    for (const write of [
      'insert into "attempts" ("message_id") values ($1)',
      '  update "messages" set "status" = $1 where "id" in ($2, $3)',
      'delete from "sandbox_messages" where "id" < $1',
      'with t0 as (insert into "messages" ("id") select "id" from json_populate_recordset(null::"messages", $1::json)) select 1',
      'with "due_high" as (select "id" from "messages" where "priority" = 0 for update skip locked) update "messages" set "status" = $1 where "id" in (select "id" from "due_high")',
    ])
      assert.equal(isRepeatableWrite(write), true, write);
    for (const read of [
      'select "id" from "messages" where "status" = $1 order by "id" desc limit $2',
      'with matches as (select "id" from "messages" where "subject" like $1) select count(*) from matches',
      'select "id" from "messages" where "id" = $1 for update',
      'update "messages" set "status" = $1 where "id" = any($2::text[])',
    ])
      assert.equal(isRepeatableWrite(read), false, read);
  });
});
