import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningSimulator, startSimulator } from '../src/simulator/index.ts';
import {
  freePort,
  message,
  request,
  runTegami,
  type Spawned,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * After an outage, the first worker whose probe SendGrid answers drains the held mail, and the
 * other workers may have nothing left to probe with: each keeps its own view of the outage until
 * its next message. The provider is nonetheless back, and `GET /v1/providers`, `/status`, the
 * `provider_failing` alert and `tegami_provider_state` must say so, not page all night for an
 * outage that ended. Real `tegami api` and two `tegami worker` processes on one database, the
 * SendGrid simulator in this process. One worker probes every 100 ms, the other once an hour:
 * the second is certain to be left with an outage it cannot see end.
 */
const SG_KEY = 'SG.every-worker';

interface WorkerView {
  worker: string;
  state: string;
}
interface ProviderEntry {
  name: string;
  state: string;
  workers: WorkerView[];
}

describe(`an outage that one worker saw end is over for the cluster (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  let simulator: RunningSimulator;
  let api: Spawned;
  let url = '';
  const workers: Spawned[] = [];

  before(async () => {
    simulator = await startSimulator({ port: 0, apiKey: SG_KEY });
    const env = {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: SG_KEY,
      TEGAMI_SENDGRID_BASE_URL: simulator.url,
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '1',
      TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
      TEGAMI_ALERT_INTERVAL_MS: '200',
      TEGAMI_ALERT_FOR_S: '0',
      TEGAMI_METRICS_CACHE_S: '0',
    };
    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    api = spawnTegami(['api'], { ...env, TEGAMI_HTTP_PORT: String(await freePort()) });
    url = await api.ready;
    for (const probeMs of ['100', '3600000']) {
      const worker = spawnTegami(['worker'], {
        ...env,
        TEGAMI_PROVIDER_PROBE_INTERVAL_MS: probeMs,
      });
      workers.push(worker);
      await worker.ready;
    }
  });
  after(async () => {
    for (const p of [api, ...workers]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all([api, ...workers].filter(Boolean).map((p) => p.exited.catch(() => {})));
    await simulator?.close();
    await db.cleanup();
  });

  const sendgrid = async (): Promise<ProviderEntry> => {
    const r = await request(url, 'GET', '/v1/providers');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.providers.find((p: ProviderEntry) => p.name === 'sendgrid');
  };
  const firingProviderAlerts = async () => {
    const r = await request(url, 'GET', '/v1/alerts?state=firing');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.data as { rule: string }[]).filter((a) => a.rule === 'provider_failing');
  };

  test('the provider is healthy, /status 200 and the alert resolved, once the held mail is sent', {
    timeout: 120_000,
  }, async (t) => {
    await waitFor(async () => (await sendgrid()).workers.length === 2, 'both workers to report');
    const outage = await request(simulator.url, 'POST', '/_simulator/outage', {
      mode: '503',
      durationMs: 600_000,
    });
    assert.equal(outage.status, 200, JSON.stringify(outage.body));

    // Mail keeps coming until each worker has tried some and seen the outage.
    let submitted = 0;
    await waitFor(
      async () => {
        const r = await request(
          url,
          'POST',
          '/v1/messages',
          message({ subject: `Held ${submitted}` }),
        );
        assert.equal(r.status, 202, JSON.stringify(r.body));
        submitted++;
        const view = await sendgrid();
        return view.workers.length === 2 && view.workers.every((w) => w.state === 'unavailable');
      },
      'both workers to see the outage',
      60_000,
      100,
    );
    await waitFor(
      async () => (await firingProviderAlerts()).length === 1,
      'provider_failing to fire',
    );
    assert.equal((await request(url, 'GET', '/status')).status, 503);

    const ended = await request(simulator.url, 'DELETE', '/_simulator/outage');
    assert.deepEqual(ended.body, { ended: true });
    const endedAt = performance.now();
    await waitFor(
      async () => {
        const r = await request(url, 'GET', '/v1/messages?status=queued&count=true&limit=1');
        return r.body.total === 0;
      },
      'the held mail to be sent',
      30_000,
      100,
    );
    // The slow worker had nothing left to probe with: its own view is still the outage.
    const views = (await sendgrid()).workers.map((w) => w.state).sort();
    assert.deepEqual(views, ['healthy', 'unavailable'], 'one worker is left with the outage');

    let last: unknown = null;
    await waitFor(
      async () => {
        const view = await sendgrid();
        const status = await request(url, 'GET', '/status');
        const firing = await firingProviderAlerts();
        last = { state: view.state, status: status.status, firing: firing.length };
        return view.state === 'healthy' && status.status === 200 && firing.length === 0;
      },
      'the provider healthy, /status 200 and provider_failing resolved',
      15_000,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(last)}`);
    });
    t.diagnostic(
      `${submitted} messages held; the outage was over for the cluster ${Math.round(performance.now() - endedAt)} ms after it ended`,
    );
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /tegami_provider_state\{provider="sendgrid",state="healthy"\} 1/);
    assert.match(metrics, /tegami_provider_state\{provider="sendgrid",state="unavailable"\} 0/);
    const held = await request(simulator.url, 'GET', '/_simulator/stats');
    assert.equal(held.body.accepted, submitted, 'every held message was sent once');
    assert.equal(held.body.duplicates, 0);
  });
});
