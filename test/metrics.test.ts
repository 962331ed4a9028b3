import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  freePort,
  message,
  queryDatabase,
  request,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { ProcessGroup } from './support/cluster.ts';

/**
 * Prometheus metrics of a cluster: one API process and two worker processes on one database,
 * each worker serving /metrics on its own port. The per-process counters of both workers add up
 * to what the database recorded; the cluster-wide gauges read from the database say the same on
 * every process (so they are not double-counted by adding the processes up).
 */
const SG_KEY = 'SG.metrics-test';
const METRICS_TOKEN = 'metrics-secret-token';

/** The samples of `name` in a Prometheus text exposition, with their labels. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1] as string] = pair[2] as string;
    out.push({ labels, value: Number(match[3]) });
  }
  return out;
}

const sum = (list: { value: number }[]) => list.reduce((n, s) => n + s.value, 0);

describe(`metrics of a cluster agree with the database (${TEST_ENGINE})`, () => {
  test('two workers and an API process: counters add up, cluster gauges agree', {
    timeout: 180_000,
  }, async () => {
    const db = tempDatabase();
    const group = new ProcessGroup();
    try {
      const simulator = await group.start(
        'simulator',
        ['simulator', '--port', '0', '--api-key', SG_KEY],
        {},
      );
      const simulatorUrl = await simulator.ready;
      const env = {
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_HTTP_PORT: '0',
        TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
        TEGAMI_PROVIDER: 'sendgrid',
        TEGAMI_SENDGRID_API_KEY: SG_KEY,
        TEGAMI_SENDGRID_BASE_URL: simulatorUrl,
        TEGAMI_METRICS_CACHE_S: '0',
      };
      const api = await group.start('api', ['api'], {
        ...env,
        TEGAMI_METRICS_TOKEN: METRICS_TOKEN,
      });
      const apiUrl = await api.ready;
      const ports = [await freePort(), await freePort()];
      for (const [i, port] of ports.entries()) {
        await group.start(`worker-${i + 1}`, ['worker'], {
          ...env,
          TEGAMI_METRICS_PORT: String(port),
        });
      }

      // A scrape before any mail: the counts it read must not linger into the next scrapes.
      const early = await fetch(`http://127.0.0.1:${ports[0]}/metrics`);
      assert.equal(early.status, 200);
      await early.text();

      const TOTAL = 60;
      for (let i = 0; i < TOTAL; i += 20) {
        const batch = Array.from({ length: 20 }, (_, j) => message({ subject: `m ${i + j}` }));
        const r = await request(apiUrl, 'POST', '/v1/messages/batch', { messages: batch });
        assert.equal(r.status, 202, JSON.stringify(r.body));
      }
      await waitFor(
        async () => {
          const [row] = await queryDatabase<{ n: number }>(
            db.url,
            "select count(*) as n from messages where status = 'sent'",
          );
          return Number(row?.n) === TOTAL;
        },
        'every message sent',
        60_000,
        200,
      );

      // The API port asks for the token when one is set.
      assert.equal((await fetch(`${apiUrl}/metrics`)).status, 401);
      const wrong = await fetch(`${apiUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 401);
      const apiScrape = await fetch(`${apiUrl}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      assert.equal(apiScrape.status, 200);
      assert.match(apiScrape.headers.get('content-type') ?? '', /^text\/plain/);
      const apiText = await apiScrape.text();
      assert.equal(sum(samples(apiText, 'tegami_messages_accepted_total')), TOTAL);
      assert.ok(samples(apiText, 'process_cpu_seconds_total').length > 0, 'Node process metrics');

      const scrapes = await Promise.all(
        ports.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
      );
      const [attempts] = await queryDatabase<{ n: number }>(
        db.url,
        "select count(*) as n from attempts where outcome = 'accepted'",
      );
      const accepted = scrapes.map((text) =>
        sum(
          samples(text, 'tegami_provider_attempts_total').filter(
            (s) => s.labels.outcome === 'accepted',
          ),
        ),
      );
      assert.equal(
        accepted.reduce((a, b) => a + b, 0),
        Number(attempts?.n),
        `the workers' attempts (${accepted.join(' + ')}) add up to the attempts recorded`,
      );
      const durations = scrapes.map((text) =>
        sum(samples(text, 'tegami_provider_call_duration_seconds_count')),
      );
      assert.equal(
        durations.reduce((a, b) => a + b, 0),
        Number(attempts?.n),
      );
      for (const text of [...scrapes, apiText]) {
        // Cluster-wide: the same full count on every process, read from the database.
        const sent = samples(text, 'tegami_messages').find(
          (s) => s.labels.status === 'sent' && s.labels.unit === 'default',
        );
        assert.equal(sent?.value, TOTAL);
        const state = samples(text, 'tegami_provider_state').find(
          (s) => s.labels.provider === 'sendgrid' && s.labels.state === 'healthy',
        );
        assert.equal(state?.value, 1);
        const oldest = samples(text, 'tegami_oldest_unsent_age_seconds').find(
          (s) => s.labels.unit === 'default',
        );
        assert.equal(oldest?.value, 0, 'nothing waits');
        assert.equal(sum(samples(text, 'tegami_dead_letters')), 0);
      }
      // A worker's metrics port serves nothing else.
      assert.equal((await fetch(`http://127.0.0.1:${ports[0]}/v1/messages`)).status, 404);
      assert.equal((await fetch(`${apiUrl}/status`)).status, 200);
      const codes = await group.stopAll();
      for (const [name, code] of codes) assert.equal(code, 0, `${name} stopped cleanly`);
    } finally {
      await group.killAll();
      await db.cleanup();
    }
  });
});
