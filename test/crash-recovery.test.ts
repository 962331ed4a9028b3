import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  message,
  queryDatabase,
  request,
  type Spawned,
  spawnTegami,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * Real processes: `tegami api` and `tegami worker` on one database. The worker is killed with
 * SIGKILL in the middle of a few thousand sends; a new worker must finish the job with nothing
 * lost or stuck, and only messages that were in flight at the kill may be sent twice.
 */
const TOTAL = 3000;
const CONCURRENCY = 16;

describe('kill -9 of a worker in the middle of sending', () => {
  const db = tempDatabase();
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_PROVIDER: 'test',
    TEGAMI_WORKER_CONCURRENCY: String(CONCURRENCY),
    TEGAMI_WORKER_BATCH_SIZE: '16',
    TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    TEGAMI_SANDBOX_OUTBOX_LIMIT: '100000',
  };
  const children: Spawned[] = [];
  let apiUrl = '';

  before(async () => {
    const api = spawnTegami(['api'], env);
    children.push(api);
    apiUrl = await api.ready;
  });
  after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await db.cleanup();
  });

  test('every accepted message ends up sent; duplicates only from the in-flight ones', async () => {
    const ids: string[] = [];
    for (let i = 0; i < TOTAL; i += 500) {
      const messages = Array.from({ length: Math.min(500, TOTAL - i) }, (_, j) =>
        // slow-5: each send takes ~5 ms, so the kill lands while sends are in flight.
        message({ to: [{ email: `slow-5+${i + j}@example.com` }] }),
      );
      const res = await request(apiUrl, 'POST', '/v1/messages/batch', { messages });
      assert.equal(res.status, 202);
      ids.push(...res.body.results.map((r: { id: string }) => r.id));
    }
    assert.equal(ids.length, TOTAL);

    const count = async (sql: string) => {
      const [row] = await queryDatabase<{ n: number }>(db.url, sql);
      assert.ok(row);
      return row.n;
    };
    const first = spawnTegami(['worker'], env);
    children.push(first);
    await first.ready;
    await waitFor(
      async () =>
        (await count("select count(*) n from messages where status = 'sent'")) >= TOTAL / 3,
      'a third to be sent',
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const sentAtKill = await count("select count(*) n from messages where status = 'sent'");
    const sendingAtKill = await count("select count(*) n from messages where status = 'sending'");
    assert.ok(sentAtKill < TOTAL, 'the kill landed before the end');

    const second = spawnTegami(['worker'], env);
    children.push(second);
    await second.ready;
    await waitFor(
      async () => (await count("select count(*) n from messages where status = 'sent'")) === TOTAL,
      'every message sent',
      90_000,
    );
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);

    assert.equal(
      await count("select count(*) n from messages where status <> 'sent'"),
      0,
      'none stuck',
    );
    assert.equal(
      await count('select count(distinct message_id) n from sandbox_messages'),
      TOTAL,
      'none lost',
    );
    const duplicates = await count(
      'select count(*) n from (select message_id from sandbox_messages group by message_id having count(*) > 1) as d',
    );
    // Only a message that was leased (in flight) when the kill landed may have gone out twice.
    assert.ok(
      duplicates <= sendingAtKill,
      `${duplicates} duplicates, ${sendingAtKill} were in flight`,
    );
    assert.ok(sendingAtKill <= CONCURRENCY);
  });
});
