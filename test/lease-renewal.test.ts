import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startSimulator } from '../src/simulator/index.ts';
import {
  message,
  type Spawned,
  spawnTegami,
  startTestService,
  TEST_ENGINE,
  waitFor,
} from './helpers.ts';
import { simulatorAcceptedIds } from './support/cluster.ts';

/**
 * A worker may hold more messages than the provider takes at once: the rest wait their turn,
 * longer than a lease when the provider is slow. Their leases are moved on meanwhile, so no
 * other worker claims them again and sends them twice.
 */
describe(`leases of messages waiting for the provider (${TEST_ENGINE})`, () => {
  test('two workers, 40 messages, 2 sends at a time of 400 ms, 3 s leases: each sent once', async () => {
    const simulator = await startSimulator({
      port: 0,
      apiKey: 'SG.lease',
      faults: { latencyMs: 400 },
    });
    const env = {
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: 'SG.lease',
      TEGAMI_SENDGRID_BASE_URL: simulator.url,
      TEGAMI_SENDGRID_MAX_CONCURRENCY: '2',
      TEGAMI_SENDGRID_CONNECT_TIMEOUT_MS: '300',
      TEGAMI_SENDGRID_TIMEOUT_MS: '1000',
      TEGAMI_WORKER_CONCURRENCY: '40',
      TEGAMI_WORKER_LEASE_MS: '3000',
      TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    };
    const api = await startTestService({ ...env, TEGAMI_TEST_NO_WORKER: '1' });
    const workers: Spawned[] = [];
    try {
      const batch = await api.request('POST', '/v1/messages/batch', {
        messages: Array.from({ length: 40 }, (_, i) =>
          message({ to: [{ email: `guest-${i}@example.com` }] }),
        ),
      });
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      const ids: string[] = batch.body.results.map((r: { id: string }) => r.id);
      // The first worker claims all 40; the second finds their leases run out unless renewed.
      for (let i = 0; i < 2; i++) {
        const worker = spawnTegami(['worker'], { ...env, TEGAMI_DATABASE_URL: api.databaseUrl });
        workers.push(worker);
        await worker.ready;
      }
      // 20 rounds of 400 ms: the last messages wait 8 s, more than two leases.
      await waitFor(
        async () => {
          const sent = await api.request('GET', '/v1/messages?status=sent&count=true');
          return sent.body.total === ids.length;
        },
        'every message sent',
        30_000,
      );
      const accepted = await simulatorAcceptedIds(simulator.url);
      const notOnce = ids.filter((id) => (accepted.get(id) ?? 0) !== 1);
      assert.deepEqual(notOnce, [], 'sent other than once');
    } finally {
      for (const w of workers) {
        w.child.kill('SIGTERM');
        await w.exited;
      }
      await api.stop();
      await simulator.close();
    }
  });
});
