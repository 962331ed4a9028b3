/**
 * `npm run bench [single|batch|e2e|sendgrid]`: measures the submission API and end-to-end delivery on this machine with real
 * processes, real HTTP and a durable (fsync'd) SQLite file. Prints a Markdown table to paste into
 * docs/benchmarks.md. The load generator (autocannon) runs in this process; Tegami in a child
 * process, so each gets its own core on a 2-core machine.
 */
import { cpus, totalmem } from 'node:os';
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { message, request, spawnTegami, TEST_KEY, tempDatabase, waitFor } from '../test/helpers.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);

interface Result {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  '2xx': number;
}

function load(url: string, options: Record<string, unknown>): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        duration: DURATION_S,
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        ...options,
      },
      (err: Error | null, result: Result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function startTegami(role: string, extra: Record<string, string> = {}) {
  const db = tempDatabase();
  const child = spawnTegami([role], {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'warn',
    ...extra,
  });
  const url = await child.ready;
  return {
    url,
    db,
    async stop() {
      child.child.kill('SIGTERM');
      await child.exited;
      db.cleanup();
    },
  };
}

const body = JSON.stringify(
  message({
    subject: 'Your booking #12345 is confirmed',
    text: 'Dear guest, your room is booked for 2 nights. We look forward to your stay.',
    html: '<p>Dear guest, your room is booked for <b>2 nights</b>.</p>',
    categories: ['booking'],
    metadata: { booking_id: '12345', site: 'hotel' },
  }),
);
const rows: string[] = [];

async function singleMessages() {
  const api = await startTegami('api');
  await load(`${api.url}/v1/messages`, { body, connections: 32, duration: 2 }); // warm-up
  const r = await load(`${api.url}/v1/messages`, { body, connections: 32 });
  rows.push(
    `| \`POST /v1/messages\`, 32 connections, as fast as possible | ${Math.round(r.requests.average)} msg/s | p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms | ${r.non2xx + r.errors} errors |`,
  );
  const paced = await load(`${api.url}/v1/messages`, { body, connections: 32, overallRate: 1000 });
  rows.push(
    `| \`POST /v1/messages\`, paced at 1,000 req/s | ${Math.round(paced.requests.average)} msg/s | p50 ${paced.latency.p50} ms, p99 ${paced.latency.p99} ms | ${paced.non2xx + paced.errors} errors |`,
  );
  await api.stop();
}

async function batches() {
  const api = await startTegami('api');
  const batch = JSON.stringify({ messages: Array.from({ length: 1000 }, () => JSON.parse(body)) });
  await load(`${api.url}/v1/messages/batch`, { body: batch, connections: 4, duration: 2 });
  const r = await load(`${api.url}/v1/messages/batch`, { body: batch, connections: 4 });
  rows.push(
    `| \`POST /v1/messages/batch\` (1,000 messages each), 4 connections | ${Math.round(r.requests.average * 1000)} msg/s | p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms per batch | ${r.non2xx + r.errors} errors |`,
  );
  await api.stop();
}

/**
 * Submits `total` messages through the batch API and waits until every one is sent. Returns the
 * throughput over the whole run and the accept→sent latencies (sent_at is written when the
 * provider's answer, a 202 for SendGrid, is recorded).
 */
async function deliverAll(total: number, env: Record<string, string>) {
  const svc = await startTegami('serve', env);
  const sqlite = new Database(svc.db.url.slice('sqlite:'.length), { readonly: true });
  const sent = () =>
    (sqlite.prepare("select count(*) n from messages where status = 'sent'").get() as { n: number })
      .n;
  const started = performance.now();
  const batch = { messages: Array.from({ length: 1000 }, () => JSON.parse(body)) };
  const submissions: Promise<unknown>[] = [];
  for (let i = 0; i < total; i += 1000) {
    submissions.push(request(svc.url, 'POST', '/v1/messages/batch', batch));
    if (submissions.length >= 4) await submissions.shift();
  }
  await Promise.all(submissions);
  const accepted = performance.now();
  await waitFor(async () => sent() === total, 'all sent', 600_000, 20);
  const done = performance.now();
  const latencies = sqlite
    .prepare("select sent_at - created_at as ms from messages where status = 'sent' order by ms")
    .all() as { ms: number }[];
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.ms;
  const calls = sqlite
    .prepare('select duration_ms as ms from attempts order by duration_ms')
    .all() as { ms: number }[];
  const callPct = (p: number) =>
    calls[Math.min(calls.length - 1, Math.floor(p * calls.length))]?.ms;
  sqlite.close();
  await svc.stop();
  return {
    throughput: `${Math.round(total / ((done - started) / 1000))} msg/s (accepting took ${((accepted - started) / 1000).toFixed(1)} s, all sent after ${((done - started) / 1000).toFixed(1)} s)`,
    latency: `accept→sent p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; provider call p50 ${callPct(0.5)} ms, p99 ${callPct(0.99)} ms`,
  };
}

async function endToEnd() {
  const total = Number(process.env.BENCH_E2E_MESSAGES ?? 30_000);
  const r = await deliverAll(total, {
    TEGAMI_WORKER_CONCURRENCY: '256',
    TEGAMI_WORKER_BATCH_SIZE: '500',
  });
  rows.push(
    `| End to end: ${total.toLocaleString('en')} messages through the batch API to the sandbox provider (\`tegami serve\`) | ${r.throughput} | ${r.latency} | |`,
  );
}

/** `tegami simulator` in its own process, as users would run it. */
async function startSimulator(args: string[]) {
  const child = spawnTegami(['simulator', '--port', '0', ...args], {});
  const url = await child.ready;
  return {
    url,
    async stats() {
      return (await request(url, 'GET', '/_simulator/stats')).body as {
        accepted: number;
        duplicates: number;
      };
    },
    async stop() {
      child.child.kill('SIGTERM');
      await child.exited;
    },
  };
}

async function throughSimulator(latencyMs: number, concurrency: number, total: number) {
  const simulator = await startSimulator(['--latency-ms', String(latencyMs)]);
  const r = await deliverAll(total, {
    TEGAMI_PROVIDER: 'sendgrid',
    TEGAMI_SENDGRID_API_KEY: 'SG.bench',
    TEGAMI_SENDGRID_BASE_URL: simulator.url,
    TEGAMI_SENDGRID_MAX_CONCURRENCY: String(concurrency),
    TEGAMI_WORKER_CONCURRENCY: String(concurrency),
    TEGAMI_WORKER_BATCH_SIZE: '500',
  });
  const stats = await simulator.stats();
  await simulator.stop();
  rows.push(
    `| End to end: ${total.toLocaleString('en')} messages through the batch API, the \`sendgrid\` provider and \`tegami simulator\` (${latencyMs} ms simulated latency, ${concurrency} concurrent requests) | ${r.throughput} | ${r.latency} | simulator accepted ${stats.accepted.toLocaleString('en')}, ${stats.duplicates} twice |`,
  );
}

const which = process.argv.slice(2);
const all = which.length === 0;
if (all || which.includes('single')) await singleMessages();
if (all || which.includes('batch')) await batches();
if (all || which.includes('e2e')) await endToEnd();
if (all || which.includes('sendgrid')) {
  await throughSimulator(0, 256, Number(process.env.BENCH_E2E_MESSAGES ?? 30_000));
  await throughSimulator(200, 200, 10_000);
}

console.log(
  `\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; ${DURATION_S} s per run\n`,
);
console.log('| scenario | throughput | latency | errors |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
