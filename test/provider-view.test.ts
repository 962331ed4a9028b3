import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WORKER_GONE_AFTER_MS } from '../src/domain/provider-circuit.ts';
import {
  message,
  queryDatabase,
  runTegami,
  type Spawned,
  spawnTegami,
  startTestService,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * `GET /v1/providers` is built from each worker's heartbeat report. It must be current (counts
 * within a heartbeat or two of the sends) and show only workers that exist: a killed worker's
 * entry goes away within a bounded time, a stopped worker's at once. Real worker processes, an
 * API in this process, one database.
 */

interface WorkerView {
  worker: string;
  state: string;
  stale: boolean;
}
interface ProviderEntry {
  name: string;
  state: string;
  reason: string | null;
  accepted: number;
  failed: number;
  workers: WorkerView[];
}

describe('GET /v1/providers follows the running workers', () => {
  const db = tempDatabase();
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_PROVIDER: 'test',
    TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
  };
  let api: TestService;
  const workers: Spawned[] = [];

  before(async () => {
    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    api = await startTestService({ ...env, TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await api?.stop();
    await db.cleanup();
  });

  const providers = async (): Promise<ProviderEntry[]> => {
    const r = await api.request('GET', '/v1/providers');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.providers;
  };
  const startWorker = async (extra: Record<string, string> = {}) => {
    const worker = spawnTegami(['worker'], { ...env, ...extra });
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  const pidOf = (workerId: string) => Number(workerId.split('/').at(-2));
  const noWorker = {
    name: 'test',
    state: 'unknown',
    reason: 'no worker is running',
    accepted: 0,
    failed: 0,
    workers: [],
  };
  const essentials = (list: ProviderEntry[]) =>
    list.map(({ name, state, reason, accepted, failed, workers }) => ({
      name,
      state,
      reason,
      accepted,
      failed,
      workers,
    }));

  test('with no worker running, the configured provider is shown as unknown, and why', async () => {
    assert.deepEqual(essentials(await providers()), [noWorker]);
  });

  test('counts show five sends within a heartbeat or two', { timeout: 60_000 }, async (t) => {
    const worker = await startWorker();
    await waitFor(
      async () => (await providers())[0]?.workers.some((w) => pidOf(w.worker) === worker.child.pid),
      'the worker to report',
      30_000,
    );
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await api.request('POST', '/v1/messages', message({ subject: `Count ${i}` }));
      assert.equal(r.status, 202);
      ids.push(r.body.id);
    }
    await waitFor(
      async () => {
        const rows = await queryDatabase<{ n: number }>(
          db.url,
          `select count(*) as n from messages where status = 'sent'`,
        );
        return rows[0]?.n === 5;
      },
      'the five messages to be sent',
      30_000,
      20,
    );
    const sentAt = performance.now();
    const entry = await waitFor(
      async () => {
        const [test] = await providers();
        return test?.accepted === 5 ? test : null;
      },
      'the view to count five accepted sends',
      30_000,
      100,
    );
    const lagMs = performance.now() - sentAt;
    t.diagnostic(`the view counted the sends ${Math.round(lagMs)} ms after they were sent`);
    // One heartbeat is 1 s; allow for a slow, shared machine.
    assert.ok(lagMs < 4_000, `the view lagged ${Math.round(lagMs)} ms behind the sends`);
    assert.equal(entry.state, 'healthy');
    assert.equal(entry.workers.length, 1);
  });

  test('a kill -9’d worker’s entry (and a provider only it used) disappears', {
    timeout: 90_000,
  }, async (t) => {
    // Another worker, started with another provider (as after a configuration change): the
    // view lists that provider while the worker runs.
    const other = await startWorker({ TEGAMI_PROVIDER: 'sandbox' });
    await waitFor(
      async () => (await providers()).some((p) => p.name === 'sandbox' && p.workers.length === 1),
      'the sandbox worker to report',
      30_000,
    );
    const running = workers.filter((w) => w.child.exitCode === null);
    assert.equal(running.length, 2);
    for (const w of running) w.child.kill('SIGKILL');
    await Promise.all(running.map((w) => w.exited));
    const killedAt = performance.now();
    let last: ProviderEntry[] = [];
    await waitFor(
      async () => {
        last = await providers();
        return last.length === 1 && last[0]?.workers.length === 0;
      },
      'the killed workers to leave the view',
      WORKER_GONE_AFTER_MS + 20_000,
      200,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(last)}`);
    });
    const goneMs = performance.now() - killedAt;
    t.diagnostic(`killed workers left the view ${Math.round(goneMs)} ms after kill -9`);
    assert.ok(
      goneMs < WORKER_GONE_AFTER_MS + 5_000,
      `took ${Math.round(goneMs)} ms (bound: ${WORKER_GONE_AFTER_MS} ms without a heartbeat)`,
    );
    assert.deepEqual(essentials(last), [noWorker]);
    assert.equal(other.child.signalCode, 'SIGKILL');
  });

  test('a stopped worker removes its own entry at once', { timeout: 60_000 }, async () => {
    const worker = await startWorker();
    await waitFor(
      async () => (await providers())[0]?.workers.length === 1,
      'the worker to report',
      30_000,
    );
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.output());
    // Removed by the worker itself as it stops: no waiting for the heartbeat to go silent.
    assert.deepEqual(essentials(await providers()), [noWorker]);
  });
});
