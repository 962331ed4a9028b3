import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import {
  message,
  queryDatabase,
  request,
  runTegami,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import {
  type ClusterProcess,
  ProcessGroup,
  simulatorAcceptedIds,
  simulatorStats,
} from './support/cluster.ts';
import { findPostgresBin, startThrowawayPostgres } from './support/postgres.ts';

/**
 * Tegami as a cluster on one PostgreSQL database: several API and worker processes (real `tegami`
 * processes, not services in the test's process) sending through the SendGrid simulator. Runs on
 * the PostgreSQL pass of the suite only.
 */
const SG_KEY = 'SG.cluster-test';

function tegamiEnv(databaseUrl: string, simulatorUrl: string): Record<string, string> {
  return {
    TEGAMI_DATABASE_URL: databaseUrl,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_PROVIDER: 'sendgrid',
    TEGAMI_SENDGRID_API_KEY: SG_KEY,
    TEGAMI_SENDGRID_BASE_URL: simulatorUrl,
  };
}

function startSimulator(group: ProcessGroup): Promise<ClusterProcess> {
  return group.start(
    'simulator',
    ['simulator', '--port', '0', '--max-messages', '100000', '--api-key', SG_KEY],
    {},
  );
}

async function statusCounts(databaseUrl: string): Promise<Record<string, number>> {
  const rows = await queryDatabase<{ status: string; n: number }>(
    databaseUrl,
    'select status, count(*) as n from messages group by status',
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** The pid in a worker id (`host/pid/random`). */
function pidOf(workerId: string): number {
  return Number(workerId.split('/').at(-2));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function report(t: TestContext, line: string) {
  t.diagnostic(line);
}

describe('Tegami cluster on PostgreSQL', {
  skip: process.env.TEGAMI_TEST_ENGINE !== 'postgres' && 'PostgreSQL pass only',
}, () => {
  test('4 workers and 2 API processes, 20,000 messages: each accepted once, none lost, work spread', {
    timeout: 300_000,
  }, async (t) => {
    const TOTAL = 20_000;
    const BATCH = 1_000;
    const CONCURRENT_BATCHES = 4;
    const t0 = performance.now();
    const db = tempDatabase();
    const group = new ProcessGroup();
    try {
      // On a new database, processes that start at the same moment race to create the schema and
      // the bootstrap API key: migrate and start the first API process alone.
      const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
      assert.equal(migrated.code, 0, migrated.output);
      const simulator = await startSimulator(group);
      const simulatorUrl = await simulator.ready;
      const env = {
        ...tegamiEnv(db.url, simulatorUrl),
        // This test is about claims and leases: no message may be claimed or sent twice. A send
        // that times out is another matter (outcome `unknown`, sent again when no Event Webhook
        // can prove it arrived: test/unknown-outcome.test.ts), and on a loaded machine
        // the first burst (4 workers × 64 requests to one simulator still warming up) has taken
        // 11–14 s, past the default 10 s. So the timeout here is long enough never to be met.
        TEGAMI_SENDGRID_TIMEOUT_MS: '60000',
        TEGAMI_WORKER_LEASE_MS: '90000',
      };
      const api1 = await group.start('api 1', ['api'], env);
      const [api2, ...workers] = await Promise.all([
        group.start('api 2', ['api'], env),
        ...[1, 2, 3, 4].map((i) => group.start(`worker ${i}`, ['worker'], env)),
      ]);
      const apiUrls = [await api1.ready, await (api2 as ClusterProcess).ready];
      const tStarted = performance.now();

      // Batches of 1,000, a few at a time, alternating between the two API processes.
      const acceptedIds = new Set<string>();
      let next = 0;
      const submitter = async () => {
        for (;;) {
          const batch = next++;
          if (batch * BATCH >= TOTAL) return;
          const messages = Array.from({ length: BATCH }, (_, i) =>
            message({
              subject: `Booking ${batch * BATCH + i}`,
              metadata: { n: String(batch * BATCH + i) },
            }),
          );
          const apiUrl = apiUrls[batch % apiUrls.length] as string;
          const r = await request(apiUrl, 'POST', '/v1/messages/batch', { messages });
          assert.equal(r.status, 202, `batch ${batch} via ${apiUrl}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.accepted, BATCH);
          for (const result of r.body.results as { id: string }[]) acceptedIds.add(result.id);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENT_BATCHES }, submitter));
      assert.equal(acceptedIds.size, TOTAL);
      const tSubmitted = performance.now();

      let last: Record<string, number> = {};
      await waitFor(
        async () => {
          group.assertRunning();
          last = await statusCounts(db.url);
          return (last.sent ?? 0) + (last.failed ?? 0) >= TOTAL;
        },
        'every message to be sent',
        120_000,
        250,
      ).catch((error: Error) => {
        if (group.exited().length > 0) throw error;
        throw new Error(`${error.message}; statuses: ${JSON.stringify(last)}\n${group.outputs()}`);
      });
      const tSent = performance.now();
      assert.deepEqual(last, { sent: TOTAL }, 'every message sent, none failed');

      // Exactly once at the provider: as many accepted sends as messages, no id twice, and
      // exactly the ids the API acknowledged.
      const stats = await simulatorStats(simulatorUrl);
      if (stats.accepted !== TOTAL || stats.duplicates !== 0) {
        // Say why a message went out twice: the attempts of such messages, and what the
        // processes logged, so a failure on a loaded machine can be told from a bug.
        const twice = await queryDatabase<Record<string, unknown>>(
          db.url,
          `select outcome, error_class, number, count(*) as n, min(detail) as detail
             from attempts where message_id in (select message_id from attempts where number > 1)
             group by outcome, error_class, number order by number, outcome`,
        );
        assert.fail(
          `the provider took ${stats.accepted} sends of ${TOTAL} messages: ${JSON.stringify(stats)}` +
            `\nattempts of messages tried more than once: ${JSON.stringify(twice)}\n` +
            `warnings and errors the processes logged:\n${group.outputs(20, (line) => /"level":[4-6]0/.test(line))}`,
        );
      }
      assert.equal(stats.duplicates, 0, JSON.stringify(stats));
      const received = await simulatorAcceptedIds(simulatorUrl);
      assert.equal(received.size, TOTAL);
      const unexpected = [...received.keys()].filter((id) => !acceptedIds.has(id));
      assert.deepEqual(unexpected, [], 'the simulator received only acknowledged ids');
      assert.deepEqual(
        [...received.values()].filter((n) => n !== 1),
        [],
        'each id accepted once',
      );

      // One attempt per message: nothing was retried or sent again after a lease expired.
      const [attempts] = await queryDatabase<{ n: number; accepted: number; max: number }>(
        db.url,
        `select count(*) as n, count(*) filter (where outcome = 'accepted') as accepted,
           max(number) as max from attempts`,
      );
      assert.deepEqual(attempts, { n: TOTAL, accepted: TOTAL, max: 1 });

      // The spread: each worker publishes its count of accepted sends in provider_health, every
      // second (and removes its row when it stops). Wait for reports that cover every send.
      let shares: { reporter: string; accepted: number }[] = [];
      await waitFor(
        async () => {
          const rows = await queryDatabase<{ reporter: string; details: string }>(
            db.url,
            'select reporter, details from provider_health',
          );
          shares = rows.map((r) => ({
            reporter: r.reporter,
            accepted: (JSON.parse(r.details) as { accepted: number }).accepted,
          }));
          return shares.reduce((sum, s) => sum + s.accepted, 0) === TOTAL;
        },
        'worker health reports that add up to every send',
        25_000,
        500,
      ).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(shares)}`);
      });
      assert.deepEqual(
        shares.map((s) => pidOf(s.reporter)).sort(),
        workers.map((w) => w.pid).sort(),
        'one report per worker process',
      );
      for (const share of shares) {
        assert.ok(
          share.accepted >= TOTAL * 0.05,
          `worker ${share.reporter} sent ${share.accepted} of ${TOTAL} (under 5%): ${JSON.stringify(shares)}`,
        );
      }

      assert.deepEqual(group.exited(), [], 'no process exited during the run');
      const tStop = performance.now();
      const codes = await group.stopAll([simulator]);
      assert.deepEqual(
        Object.fromEntries(codes),
        Object.fromEntries(group.processes.map((p) => [p.name, 0])),
        `every process stops cleanly on SIGTERM\n${group.outputs()}`,
      );
      const tEnd = performance.now();

      const perWorker = workers
        .map((w) => {
          const n = shares.find((s) => pidOf(s.reporter) === w.pid)?.accepted ?? 0;
          return `${w.name} ${n} (${((100 * n) / TOTAL).toFixed(1)}%)`;
        })
        .join(', ');
      report(t, `sent per worker: ${perWorker}`);
      report(
        t,
        `start ${seconds(tStarted - t0)}, submit ${seconds(tSubmitted - tStarted)}, all sent ` +
          `${seconds(tSent - tStarted)} after the first batch (${Math.round(
            TOTAL / ((tSent - tStarted) / 1000),
          )}/s), checks ${seconds(tStop - tSent)}, stop ${seconds(tEnd - tStop)}, ` +
          `total ${seconds(tEnd - t0)}`,
      );
    } finally {
      await group.killAll();
      await db.cleanup();
    }
  });

  test('PostgreSQL restarted under load: everything acknowledged before is delivered after', {
    timeout: 180_000,
    // It restarts a server of its own, whatever server the rest of the suite uses.
    skip: !findPostgresBin() && 'needs PostgreSQL server programs (initdb, postgres)',
  }, async (t) => {
    /** A request without an answer after this long counts as hung. */
    const HANG_MS = 10_000;
    /** The longest a request may take while the database restarts. */
    const SLOWEST_ALLOWED_MS = 5_000;
    const CLIENTS = 4;
    const WORKER_CONCURRENCY = 64;
    const t0 = performance.now();
    const server = await startThrowawayPostgres();
    const group = new ProcessGroup();
    try {
      const databaseUrl = `${server.url}?schema=restart_test`;
      const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: databaseUrl });
      assert.equal(migrated.code, 0, migrated.output);
      const simulator = await startSimulator(group);
      const simulatorUrl = await simulator.ready;
      const env = {
        ...tegamiEnv(databaseUrl, simulatorUrl),
        // A send whose result could not be written while the database was down is claimed and
        // sent again when its lease ends: after 5 s here rather than the default 30 s.
        TEGAMI_WORKER_LEASE_MS: '5000',
        TEGAMI_SENDGRID_CONNECT_TIMEOUT_MS: '1000',
        TEGAMI_SENDGRID_TIMEOUT_MS: '3000',
        TEGAMI_WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
      };
      const api = await group.start('api', ['api'], env);
      const worker = await group.start('worker', ['worker'], env);
      const apiUrl = await api.ready;
      const tStarted = performance.now();

      // Clients submitting one message per request, all the time, each noting what it got.
      interface Outcome {
        status: number | 'hung' | 'network error';
        id: string | null;
        code: string | null;
        startedAt: number;
        ms: number;
      }
      const outcomes: Outcome[] = [];
      let loading = true;
      let seq = 0;
      const client = async () => {
        while (loading) {
          const n = seq++;
          const startedAt = performance.now();
          const outcome: Outcome = {
            status: 'network error',
            id: null,
            code: null,
            startedAt,
            ms: 0,
          };
          try {
            const response = await fetch(`${apiUrl}/v1/messages`, {
              method: 'POST',
              headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
              body: JSON.stringify(
                message({ subject: `Restart ${n}`, metadata: { n: String(n) } }),
              ),
              signal: AbortSignal.timeout(HANG_MS),
            });
            outcome.status = response.status;
            const body = (await response.json().catch(() => null)) as {
              id?: string;
              error?: { code?: string };
            } | null;
            if (response.status === 202) outcome.id = body?.id ?? null;
            outcome.code = body?.error?.code ?? null;
          } catch (error) {
            if ((error as Error).name === 'TimeoutError') outcome.status = 'hung';
          }
          outcome.ms = performance.now() - startedAt;
          outcomes.push(outcome);
          if (outcome.status !== 202) await sleep(50);
        }
      };
      const load = Promise.all(Array.from({ length: CLIENTS }, client));
      const acknowledged = (after = 0) =>
        outcomes.filter((o) => o.status === 202 && o.startedAt > after).length;

      try {
        await waitFor(
          async () => {
            group.assertRunning();
            return acknowledged() >= 300 && ((await statusCounts(databaseUrl)).sent ?? 0) >= 100;
          },
          'mail flowing before the restart',
          30_000,
          100,
        );
        const tRestart = performance.now();
        await server.restart();
        const tBack = performance.now();
        report(t, `restart: ${seconds(tBack - tRestart)} (fast shutdown and start)`);
        // Submissions must succeed again, for a while, on the same processes.
        await waitFor(
          async () => {
            group.assertRunning();
            return acknowledged(tBack) >= 200 && performance.now() - tBack > 2_000;
          },
          'submissions to succeed again after the restart',
          30_000,
          100,
        ).catch((error: Error) => {
          if (group.exited().length > 0) throw error;
          const since = outcomes.filter((o) => o.startedAt > tBack).slice(-5);
          throw new Error(`${error.message}; lately: ${JSON.stringify(since)}\n${group.outputs()}`);
        });
        loading = false;
        await load;

        const failed = outcomes.filter((o) => o.status !== 202);
        const codes = new Map<string, number>();
        for (const o of failed) {
          const key = `${o.status} ${o.code ?? ''}`.trim();
          codes.set(key, (codes.get(key) ?? 0) + 1);
        }
        const slowest = Math.max(...outcomes.map((o) => o.ms));
        const firstFailure = Math.min(...failed.map((o) => o.startedAt));
        const lastFailure = Math.max(...failed.map((o) => o.startedAt + o.ms));
        report(
          t,
          `requests: ${outcomes.length}, acknowledged ${acknowledged()} ` +
            `(${acknowledged(tBack)} started after the restart), failed ${failed.length}: ` +
            `${JSON.stringify(Object.fromEntries(codes))}` +
            (failed.length > 0
              ? `, between ${Math.round(firstFailure - tRestart)} and ` +
                `${Math.round(lastFailure - tRestart)} ms after the restart began`
              : '') +
            `; slowest request ${Math.round(slowest)} ms`,
        );
        assert.deepEqual(
          failed.filter((o) => o.status !== 503),
          [],
          'a request either succeeds or gets a clean 503: no 500, no hang, no dropped connection',
        );
        assert.ok(slowest < SLOWEST_ALLOWED_MS, `slowest request took ${Math.round(slowest)} ms`);
      } finally {
        loading = false;
        await load;
      }

      assert.deepEqual(group.exited(), [], `no process exited\n${group.outputs()}`);
      for (const p of [api, worker, simulator]) {
        assert.doesNotThrow(() => process.kill(p.pid, 0), `${p.name} (pid ${p.pid}) still runs`);
      }

      // Everything acknowledged is sent, and nothing is left waiting.
      const acknowledgedIds = outcomes.flatMap((o) => (o.id ? [o.id] : []));
      const acknowledgedSet = new Set(acknowledgedIds);
      let statuses: Record<string, number> = {};
      await waitFor(
        async () => {
          group.assertRunning();
          statuses = await statusCounts(databaseUrl);
          return Object.keys(statuses).every((s) => s === 'sent' || s === 'failed');
        },
        'every message to be sent',
        60_000,
        250,
      ).catch((error: Error) => {
        if (group.exited().length > 0) throw error;
        throw new Error(`${error.message}: ${JSON.stringify(statuses)}\n${group.outputs()}`);
      });
      const tSent = performance.now();
      const stored = await queryDatabase<{ id: string; status: string; attempt_count: number }>(
        databaseUrl,
        'select id, status, attempt_count from messages',
      );
      const storedById = new Map(stored.map((m) => [m.id, m]));
      assert.deepEqual(
        acknowledgedIds.filter((id) => storedById.get(id)?.status !== 'sent'),
        [],
        'every acknowledged message is sent',
      );
      assert.equal(statuses.failed ?? 0, 0, 'no message failed');
      // A request that failed may still have committed (the answer was lost, not the write).
      const storedNotAcknowledged = stored.filter((m) => !acknowledgedSet.has(m.id));

      // At the provider: every acknowledged message accepted, once; a second time only for a
      // message whose first send's result could not be recorded (it was in flight at the restart).
      const received = await simulatorAcceptedIds(simulatorUrl);
      assert.deepEqual(
        acknowledgedIds.filter((id) => !received.has(id)),
        [],
        'the simulator accepted every acknowledged message',
      );
      assert.deepEqual(
        [...received.keys()].filter((id) => !storedById.has(id)),
        [],
        'the simulator received only stored messages',
      );
      const twice = [...received].filter(([, n]) => n === 2).map(([id]) => id);
      assert.deepEqual(
        [...received].filter(([, n]) => n > 2),
        [],
        'no message accepted more than twice',
      );
      assert.ok(
        twice.length <= WORKER_CONCURRENCY,
        `${twice.length} messages sent twice: more than could have been in flight`,
      );
      // Such a message was claimed again when its lease ended, and its first attempt is missing:
      // that send's result was never written.
      const twiceAttempts = await queryDatabase<{ message_id: string; numbers: number[] }>(
        databaseUrl,
        'select message_id, array_agg(number order by number) as numbers from attempts ' +
          'where message_id = any(?) group by message_id',
        [twice],
      );
      for (const id of twice) {
        const numbers = twiceAttempts.find((a) => a.message_id === id)?.numbers ?? [];
        assert.ok(
          (storedById.get(id)?.attempt_count ?? 0) >= 2 &&
            numbers.length > 0 &&
            !numbers.includes(1),
          `${id} was sent twice, but its attempts are ${JSON.stringify(numbers)} ` +
            `(claimed ${storedById.get(id)?.attempt_count} times)`,
        );
      }
      const stats = await simulatorStats(simulatorUrl);
      assert.equal(stats.duplicates, twice.length, JSON.stringify(stats));
      assert.equal(stats.accepted, received.size + twice.length, JSON.stringify(stats));

      const attemptCounts = new Map<number, number>();
      for (const m of stored) {
        attemptCounts.set(m.attempt_count, (attemptCounts.get(m.attempt_count) ?? 0) + 1);
      }
      report(
        t,
        `stored ${stored.length} messages: ${acknowledgedIds.length} acknowledged, ` +
          `${storedNotAcknowledged.length} stored although the client got an error; ` +
          `all sent ${seconds(tSent - tStarted)} after the load began; ` +
          `accepted by the simulator: ${stats.accepted}, of which ${twice.length} a second time ` +
          `(in flight at the restart); claims per message: ` +
          JSON.stringify(Object.fromEntries([...attemptCounts].sort((a, b) => a[0] - b[0]))),
      );

      const tStop = performance.now();
      const exitCodes = await group.stopAll([simulator]);
      assert.deepEqual(
        Object.fromEntries(exitCodes),
        Object.fromEntries(group.processes.map((p) => [p.name, 0])),
        `every process stops cleanly on SIGTERM\n${group.outputs()}`,
      );
      report(
        t,
        `total ${seconds(performance.now() - t0)} (PostgreSQL and processes started in ` +
          `${seconds(tStarted - t0)}, stop ${seconds(performance.now() - tStop)})`,
      );
    } finally {
      await group.killAll();
      await server.stop();
    }
  });
});
