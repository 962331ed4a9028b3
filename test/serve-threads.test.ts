import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  message,
  queryDatabase,
  request,
  type Spawned,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { sendsOneThenStops, submitWhileRunning } from './support/serve-drill.ts';

/**
 * `tegami serve` on two threads (TEGAMI_SERVE_THREADS=2): delivery
 * runs on a thread of its own beside the API's (serve-threads.ts), and on SQLite that thread also
 * writes the API's submissions and hands them to its worker (domain/hand-over.ts). Real
 * processes: mail submitted one message per request from several clients at once, the process
 * killed with SIGKILL while it accepts and sends; started again, it sends every message it had
 * acknowledged, and only those in flight at the kill may go out twice.
 */
const CLIENTS = 8;
const CONCURRENCY = 16;

describe('tegami serve on two threads', () => {
  const db = tempDatabase();
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_PROVIDER: 'test',
    TEGAMI_WORKER_CONCURRENCY: String(CONCURRENCY),
    TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    TEGAMI_SANDBOX_OUTBOX_LIMIT: '100000',
  };
  const children: Spawned[] = [];
  after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await db.cleanup();
  });
  const count = async (query: string) => {
    const [row] = await queryDatabase<{ n: number }>(db.url, query);
    assert.ok(row);
    return Number(row.n);
  };

  test('counts of the delivery thread show in /metrics; kill -9 loses nothing acknowledged', async () => {
    const first = spawnTegami(['serve'], { ...env, TEGAMI_SERVE_THREADS: '2' });
    children.push(first);
    const url = await first.ready;

    // Delivery runs on the other thread; its attempts are counted in this thread's metrics.
    const one = await request(url, 'POST', '/v1/messages', message());
    assert.equal(one.status, 202);
    await waitFor(async () => {
      const metrics = await request(url, 'GET', '/metrics');
      return /tegami_provider_attempts_total\{provider="test",outcome="accepted"[^}]*\} 1\b/.test(
        String(metrics.body),
      );
    }, 'the attempt counted in /metrics');

    // slow-5: each send takes ~5 ms, so the kill lands while sends are in flight.
    const load = submitWhileRunning(url, CLIENTS, (n, i) =>
      message({ to: [{ email: `slow-5+${n}-${i}@example.com` }] }),
    );
    const acknowledged = load.acknowledged;
    acknowledged.push(one.body.id);
    await waitFor(
      async () => (await count("select count(*) n from messages where status = 'sent'")) >= 300,
      '300 sent while more arrive',
      60_000,
    );
    // SQLite: the delivery thread writes the submissions and hands them to its worker; on
    // PostgreSQL the API writes them and the worker on the other thread claims them.
    const metrics = String((await request(url, 'GET', '/metrics')).body);
    const handedOver = Number(/^tegami_messages_handed_over_total (\d+)/m.exec(metrics)?.[1]);
    if (TEST_ENGINE === 'sqlite') assert.ok(handedOver > 0, `${handedOver} handed over`);
    else assert.equal(handedOver, 0);
    first.child.kill('SIGKILL');
    await first.exited;
    await load.stop();
    const sendingAtKill = await count("select count(*) n from messages where status = 'sending'");

    // Every acknowledged message was committed before its 202.
    const stored = await count('select count(*) n from messages');
    assert.ok(
      stored >= acknowledged.length,
      `${stored} stored, ${acknowledged.length} acknowledged`,
    );

    const second = spawnTegami(['serve'], { ...env, TEGAMI_SERVE_THREADS: '2' });
    children.push(second);
    await second.ready;
    await waitFor(
      async () => (await count("select count(*) n from messages where status <> 'sent'")) === 0,
      'every message sent',
      90_000,
    );
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.output());

    const sent = await queryDatabase<{ message_id: string }>(
      db.url,
      'select distinct message_id from sandbox_messages',
    );
    const sentIds = new Set(sent.map((r) => r.message_id));
    assert.deepEqual(
      acknowledged.filter((id) => !sentIds.has(id)),
      [],
      'every acknowledged message was sent',
    );
    const duplicates = await count(
      'select count(*) n from (select message_id from sandbox_messages group by message_id having count(*) > 1) as d',
    );
    // Only a message that was leased (in flight) when the kill landed may have gone out twice.
    assert.ok(duplicates <= sendingAtKill, `${duplicates} duplicates, ${sendingAtKill} in flight`);
    assert.ok(sendingAtKill <= CONCURRENCY);
  });

  test('TEGAMI_SERVE_THREADS=1 runs API and delivery on one thread', async () => {
    const single = spawnTegami(['serve'], { ...env, TEGAMI_SERVE_THREADS: '1' });
    children.push(single);
    await sendsOneThenStops(single);
  });
});
