import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  queryDatabase,
  request,
  runTegami,
  type Spawned,
  spawnTegami,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * An API process whose TEGAMI_PROVIDER is not its workers' (`sandbox` beside workers on
 * another provider) describes the wrong provider: it says so in its log, at `/readyz` and at
 * `GET /v1/providers`, from the workers' heartbeats. A real `tegami api` process; workers in this
 * process, on one database.
 */
describe(`an API process on another provider than its workers (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  let api: Spawned;
  let url = '';
  let worker: TestService | null = null;

  const startWorker = (provider: string) =>
    startTestService({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: provider,
      TEGAMI_TEST_NO_API: '1',
    });
  const heartbeats = async () =>
    (await queryDatabase<{ provider: string }>(db.url, 'select provider from provider_health'))
      .map((r) => r.provider)
      .sort();

  before(async () => {
    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    // The worker first: the API sees it in its first look, at start.
    worker = await startWorker('test');
    await waitFor(async () => (await heartbeats()).includes('test'), "the worker's heartbeat");
    api = spawnTegami(['api'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'sandbox',
      TEGAMI_HTTP_PORT: String(await freePort()),
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_LOG_LEVEL: 'info',
    });
    url = await api.ready;
  });
  after(async () => {
    if (api && api.child.exitCode === null) {
      api.child.kill('SIGTERM');
      await api.exited;
    }
    await worker?.stop();
    await db.cleanup();
  });

  const expected = {
    configured: 'sandbox',
    workers: [{ provider: 'test', count: 1 }],
    detail:
      'this process is configured with TEGAMI_PROVIDER=sandbox, but the workers that reported in the last 10 s send through test (1 worker): /readyz, GET /v1/providers and held_reason here describe sandbox; give every process the same TEGAMI_PROVIDER',
  };

  test('a warning in its log, and workers_provider_mismatch at /readyz and GET /v1/providers', async () => {
    const line = await waitFor(
      async () =>
        api
          .output()
          .split('\n')
          .find((l) => l.includes('workers send through another provider')),
      'the warning',
    );
    const logged = JSON.parse(line);
    assert.equal(logged.level, 40, 'warn');
    assert.equal(logged.msg, `workers send through another provider: ${expected.detail}`);
    assert.deepEqual(logged.workersProviders, expected.workers);

    const ready = await request(url, 'GET', '/readyz', undefined, {}, '');
    assert.equal(ready.status, 200, 'a mistake in the deployment, not a reason to leave rotation');
    assert.equal(ready.body.provider.name, 'sandbox');
    assert.deepEqual(ready.body.workers_provider_mismatch, expected);

    const providers = await request(url, 'GET', '/v1/providers');
    assert.equal(providers.status, 200);
    assert.deepEqual(providers.body.workers_provider_mismatch, expected);
  });

  test('once the workers are on the same provider: null, and a line that says it is over', async () => {
    await worker?.stop();
    worker = await startWorker('sandbox');
    // The stopped worker deleted its heartbeat; the new one writes its first just after it starts.
    await waitFor(
      async () => (await heartbeats()).join() === 'sandbox',
      "only the new worker's heartbeat",
    );
    const ready = await request(url, 'GET', '/readyz', undefined, {}, '');
    assert.equal(ready.body.workers_provider_mismatch, null);
    const providers = await request(url, 'GET', '/v1/providers');
    assert.equal(providers.body.workers_provider_mismatch, null);
    assert.equal(providers.body.providers[0].name, 'sandbox');
    assert.equal(providers.body.providers[0].workers.length, 1);
    // The log looks every 10 s.
    await waitFor(
      async () =>
        api
          .output()
          .includes(
            "no worker sends through another provider than sandbox (this process's TEGAMI_PROVIDER) any more",
          ),
      'the line that says it is over',
      25_000,
    );
  });
});
