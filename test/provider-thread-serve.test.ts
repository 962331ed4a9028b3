import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
 * `tegami serve` calls SendGrid on a thread of its own by default (TEGAMI_PROVIDER_THREAD=auto;
 * providers/provider-thread.ts). Real processes: the SendGrid simulator answering slowly, mail
 * submitted by several clients at once, `tegami serve` killed with SIGKILL while sends are in
 * flight on that thread. Started again, it sends every message it acknowledged, and only those
 * in flight at the kill may go out twice.
 */
const SG_KEY = 'SG.thread-key';
const CLIENTS = 8;
const CONCURRENCY = 16;

describe(`SendGrid calls on a thread of their own in tegami serve (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  const children: Spawned[] = [];
  let simulatorUrl = '';
  let env: Record<string, string> = {};
  before(async () => {
    // Every answer takes 5–20 ms, so a kill lands while sends wait on the thread.
    const simulator = spawnTegami(
      ['simulator', '--port', '0', '--api-key', SG_KEY, '--latency-ms', '5-20'],
      {},
    );
    children.push(simulator);
    simulatorUrl = await simulator.ready;
    env = {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_LOG_LEVEL: 'info',
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: SG_KEY,
      TEGAMI_SENDGRID_BASE_URL: simulatorUrl,
      TEGAMI_SERVE_THREADS: '1',
      TEGAMI_WORKER_CONCURRENCY: String(CONCURRENCY),
      TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    };
  });
  after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await db.cleanup();
  });
  const count = async (query: string) => {
    const [row] = await queryDatabase<{ n: number }>(db.url, query);
    assert.ok(row);
    return Number(row.n);
  };
  /** Tegami's id of every send the simulator accepted, as many times as it accepted it. */
  const simulatorSends = async () => {
    const ids: string[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await request(
        simulatorUrl,
        'GET',
        `/_simulator/messages?limit=1000&offset=${offset}`,
      );
      const messages = page.body.messages as {
        body: { personalizations: { custom_args: Record<string, string> }[] };
      }[];
      for (const m of messages) {
        ids.push(m.body.personalizations[0]?.custom_args.tegami_message_id ?? '');
      }
      if (messages.length < 1000) return ids;
    }
  };

  test('TEGAMI_PROVIDER_THREAD=off calls SendGrid on the main thread', async () => {
    const inline = spawnTegami(['serve'], { ...env, TEGAMI_PROVIDER_THREAD: 'off' });
    children.push(inline);
    await sendsOneThenStops(inline);
    assert.doesNotMatch(inline.output(), /provider calls run on a thread of their own/);
  });

  test('kill -9 while sends are on the thread loses nothing acknowledged', async () => {
    const first = spawnTegami(['serve'], env);
    children.push(first);
    const url = await first.ready;
    assert.match(first.output(), /provider calls run on a thread of their own/);

    const load = submitWhileRunning(url, CLIENTS, (n, i) =>
      message({ to: [{ email: `guest+${n}-${i}@example.com` }], subject: `予約 ${n}-${i}` }),
    );
    await waitFor(
      async () => (await count("select count(*) n from messages where status = 'sent'")) >= 200,
      '200 sent while more arrive',
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    await load.stop();
    const sendingAtKill = await count("select count(*) n from messages where status = 'sending'");
    assert.ok(sendingAtKill <= CONCURRENCY, `${sendingAtKill} leased at the kill`);

    const second = spawnTegami(['serve'], env);
    children.push(second);
    await second.ready;
    await waitFor(
      async () => (await count("select count(*) n from messages where status <> 'sent'")) === 0,
      'every message sent',
      90_000,
    );
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.output());

    const sends = await simulatorSends();
    const sent = new Set(sends);
    assert.deepEqual(
      load.acknowledged.filter((id) => !sent.has(id)),
      [],
      'every acknowledged message reached SendGrid',
    );
    // Only a message that was leased (in flight) when the kill landed may have gone out twice.
    const duplicates = sends.length - sent.size;
    assert.ok(duplicates <= sendingAtKill, `${duplicates} duplicates, ${sendingAtKill} in flight`);
  });
});
