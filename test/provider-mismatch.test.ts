import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningSimulator, startSimulator } from '../src/simulator/index.ts';
import {
  freePort,
  message,
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
import { signIn } from './support/console.ts';

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
      'this process is configured with TEGAMI_PROVIDER=sandbox, but the workers that reported in the last 10 s send through test (1 worker): /readyz and GET /v1/providers here describe sandbox; give every process the same TEGAMI_PROVIDER',
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

/**
 * Mail held while the workers are on another provider: `held_reason` and the console say that,
 * not "no worker has reported for sandbox": an API process (with the console) on `sandbox`, a
 * worker on `sendgrid` whose key the simulator refuses, so it is paused and the mail waits.
 * Both in this process, on one database.
 */
describe(`held mail and the console while the workers are on another provider (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
  const VIEWER = { email: 'viewer@example.jp', password: 'viewer-password-123' };
  const db = tempDatabase();
  let simulator: RunningSimulator;
  let api: TestService;
  let worker: TestService | null = null;
  let held = '';

  before(async () => {
    simulator = await startSimulator({ port: 0, apiKey: 'SG.accepted' });
    api = await startTestService({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'sandbox',
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    worker = await startTestService({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: 'SG.refused',
      TEGAMI_SENDGRID_BASE_URL: simulator.url,
      TEGAMI_PROVIDER_PAUSE_CHECK_MS: '60000',
      TEGAMI_TEST_NO_API: '1',
    });
    // Paused before the mail comes, so it is never tried (and not put off until a later check).
    await waitFor(async () => {
      const r = await api.request('GET', '/v1/providers');
      const sendgrid = r.body.providers.find((p: { name: string }) => p.name === 'sendgrid');
      return r.body.workers_provider_mismatch !== null && sendgrid?.state === 'paused';
    }, 'the API to see the worker on sendgrid, paused');
    const submitted = await api.request('POST', '/v1/messages', message());
    assert.equal(submitted.status, 202);
    held = submitted.body.id;
  });
  after(async () => {
    await worker?.stop();
    await api?.stop();
    await simulator?.close();
    await db.cleanup();
  });

  const HELD_REASON =
    'workers send through sendgrid, but this API process is configured with TEGAMI_PROVIDER=sandbox: give every process the same TEGAMI_PROVIDER';
  const BANNER =
    /<div class="error" role="alert" id="provider-mismatch"><p><strong>Workers send through another provider than this process\.<\/strong> The process serving the console is configured with TEGAMI_PROVIDER=sandbox, but the workers that reported in the last 10 s send through sendgrid \(1 worker\)\. Give every process the same TEGAMI_PROVIDER; until then, why mail waits cannot be told here\.<\/p><\/div>/;

  test('held_reason names both providers and the fix', async () => {
    const one = await api.request('GET', `/v1/messages/${held}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.status, 'queued');
    assert.equal(one.body.held_reason, HELD_REASON);
    const listed = await api.request('GET', '/v1/messages?status=queued');
    assert.equal(listed.body.data[0].id, held);
    assert.equal(listed.body.data[0].held_reason, HELD_REASON);
  });

  test('the console shows it as a banner to every signed-in role, in place of "is a worker running?"', async () => {
    const admin = await signIn(api.url, ADMIN.email, ADMIN.password);
    const created = await admin.post('/console/users', {
      email: VIEWER.email,
      password: VIEWER.password,
      role: 'viewer',
      units: '*',
    });
    assert.equal(created.status, 303, created.text);
    const viewer = await signIn(api.url, VIEWER.email, VIEWER.password);
    for (const client of [admin, viewer]) {
      // The overview refreshes the banner in place with the rest of its hold line.
      const overview = await client.get('/console');
      assert.equal(overview.status, 200);
      assert.match(overview.text, /<div id="overview-hold" data-poll="10000"><div class="error"/);
      for (const page of [overview, await client.get('/console/unsent')]) {
        assert.match(page.text, BANNER);
        assert.doesNotMatch(page.text, /No worker has reported/);
      }
      // A waiting message's page too.
      const waiting = await client.get(`/console/messages/${held}`);
      assert.equal(waiting.status, 200);
      assert.match(waiting.text, BANNER);
    }
    // Not before signing in: the console asks for that first.
    const anonymous = await fetch(`${api.url}/console`, { redirect: 'manual' });
    assert.equal(anonymous.status, 303);
    assert.doesNotMatch(await anonymous.text(), /provider-mismatch/);
  });

  test('a worker on the same provider: the mail goes out, no banner, no held_reason', async () => {
    await worker?.stop();
    worker = await startTestService({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'sandbox',
      TEGAMI_TEST_NO_API: '1',
    });
    const sent = await waitFor(async () => {
      const r = await api.request('GET', `/v1/messages/${held}`);
      return r.body.status === 'sent' ? r.body : null;
    }, 'the held message sent by the worker on sandbox');
    assert.equal(sent.held_reason, null);
    const admin = await signIn(api.url, ADMIN.email, ADMIN.password);
    for (const path of ['/console', '/console/unsent']) {
      const page = await admin.get(path);
      assert.doesNotMatch(page.text, /provider-mismatch|No worker has reported/);
    }
  });
});
