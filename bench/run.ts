/**
 * `npm run bench [single|batch|e2e|sendgrid|events|postgres|ops|priority|audit]` (and `load`, see bench/load.ts, and `smtp`, see bench/smtp.ts): measures the submission API and end-to-end delivery on this machine with real
 * processes, real HTTP and a durable (fsync'd) SQLite file. Prints a Markdown table to paste into
 * docs/benchmarks.md. The load generator (autocannon) runs in this process; Tegami in a child
 * process, so each gets its own core on a 2-core machine.
 *
 * Sizes: BENCH_DURATION_S (10) seconds per timed run, after BENCH_WARMUP_S (2) seconds of
 * warm-up; BENCH_E2E_MESSAGES (30,000) messages per end-to-end run; BENCH_SENDGRID_LATENCY_MESSAGES
 * (10,000) messages for `sendgrid`'s run at 200 ms simulated latency; BENCH_POSTGRES_WORKERS
 * (1,2,4) the worker processes of `postgres`'s end-to-end runs, one run per count.
 * test/bench-smoke.test.ts runs every mode with tiny ones.
 */
import { cpus, totalmem } from 'node:os';
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';
import {
  generateSigningKey,
  loadSigningKey,
  signPayload,
} from '../src/simulator/event-webhook/signing.ts';
import { message, request, spawnTegami, TEST_KEY, tempDatabase, waitFor } from '../test/helpers.ts';
import { auditBench } from './audit.ts';
import { loadBench } from './load.ts';
import { opsBench } from './ops.ts';
import { startBenchPostgres } from './postgres-server.ts';
import { priorityBench } from './priority.ts';
import { openReader } from './reader.ts';
import { benchSize, benchSizes } from './sizes.ts';
import { smtpBench } from './smtp.ts';

const DURATION_S = benchSize('BENCH_DURATION_S', 10);
const WARMUP_S = benchSize('BENCH_WARMUP_S', 2);
const E2E_MESSAGES = benchSize('BENCH_E2E_MESSAGES', 30_000);
const LATENCY_MESSAGES = benchSize('BENCH_SENDGRID_LATENCY_MESSAGES', 10_000);
const POSTGRES_WORKERS = benchSizes('BENCH_POSTGRES_WORKERS', [1, 2, 4]);

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

/** Where bench databases live: a fresh SQLite file, or a fresh schema on PostgreSQL. */
let postgresBase: string | null = null;
function benchDatabase(): { url: string; cleanup: () => void } {
  if (!postgresBase) return tempDatabase();
  return {
    url: `${postgresBase}?schema=bench_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    cleanup: () => {},
  };
}

async function startTegami(role: string, extra: Record<string, string> = {}) {
  const db = benchDatabase();
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

async function singleMessages(label = '') {
  const api = await startTegami('api');
  await load(`${api.url}/v1/messages`, { body, connections: 32, duration: WARMUP_S }); // warm-up
  const r = await load(`${api.url}/v1/messages`, { body, connections: 32 });
  rows.push(
    `| ${label}\`POST /v1/messages\`, 32 connections, as fast as possible | ${Math.round(r.requests.average)} msg/s | p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms | ${r.non2xx + r.errors} errors |`,
  );
  const paced = await load(`${api.url}/v1/messages`, { body, connections: 32, overallRate: 1000 });
  rows.push(
    `| ${label}\`POST /v1/messages\`, paced at 1,000 req/s | ${Math.round(paced.requests.average)} msg/s | p50 ${paced.latency.p50} ms, p99 ${paced.latency.p99} ms | ${paced.non2xx + paced.errors} errors |`,
  );
  await api.stop();
}

async function batches(label = '') {
  const api = await startTegami('api');
  const batch = JSON.stringify({ messages: Array.from({ length: 1000 }, () => JSON.parse(body)) });
  await load(`${api.url}/v1/messages/batch`, { body: batch, connections: 4, duration: WARMUP_S });
  const r = await load(`${api.url}/v1/messages/batch`, { body: batch, connections: 4 });
  rows.push(
    `| ${label}\`POST /v1/messages/batch\` (1,000 messages each), 4 connections | ${Math.round(r.requests.average * 1000)} msg/s | p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms per batch | ${r.non2xx + r.errors} errors |`,
  );
  await api.stop();
}

/**
 * Submits `total` messages through the batch API and waits until every one is sent. Returns the
 * throughput over the whole run and the accept→sent latencies (sent_at is written when the
 * provider's answer, a 202 for SendGrid, is recorded).
 */
async function deliverAll(total: number, env: Record<string, string>, workers = 0) {
  // workers = 0: one `tegami serve`; otherwise one `tegami api` and that many `tegami worker`s.
  const svc = await startTegami(workers === 0 ? 'serve' : 'api', env);
  const extraWorkers = await Promise.all(
    Array.from({ length: workers }, async () => {
      const child = spawnTegami(['worker'], {
        TEGAMI_DATABASE_URL: svc.db.url,
        TEGAMI_LOG_LEVEL: 'warn',
        ...env,
      });
      await child.ready;
      return child;
    }),
  );
  const reader = await openReader(svc.db.url);
  const sent = async () =>
    (await reader.all<{ n: number }>("select count(*) as n from messages where status = 'sent'"))[0]
      ?.n ?? 0;
  const started = performance.now();
  const batch = Array.from({ length: 1000 }, () => JSON.parse(body));
  const submissions: Promise<unknown>[] = [];
  for (let i = 0; i < total; i += 1000) {
    // The last batch only the rest: a total that is no multiple of 1,000 is sent as asked, and
    // the wait below for exactly `total` sent ends.
    const messages = batch.slice(0, Math.min(1000, total - i));
    submissions.push(request(svc.url, 'POST', '/v1/messages/batch', { messages }));
    if (submissions.length >= 4) await submissions.shift();
  }
  await Promise.all(submissions);
  const accepted = performance.now();
  await waitFor(async () => (await sent()) === total, 'all sent', 600_000, 20);
  const done = performance.now();
  const latencies = await reader.all<{ ms: number }>(
    "select sent_at - created_at as ms from messages where status = 'sent' order by ms",
  );
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.ms;
  const calls = await reader.all<{ ms: number }>(
    'select duration_ms as ms from attempts order by duration_ms',
  );
  const callPct = (p: number) =>
    calls[Math.min(calls.length - 1, Math.floor(p * calls.length))]?.ms;
  await reader.close();
  for (const worker of extraWorkers) worker.child.kill('SIGTERM');
  await Promise.all(extraWorkers.map((w) => w.exited));
  await svc.stop();
  return {
    throughput: `${Math.round(total / ((done - started) / 1000))} msg/s (accepting took ${((accepted - started) / 1000).toFixed(1)} s, all sent after ${((done - started) / 1000).toFixed(1)} s)`,
    latency: `accept→sent p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; provider call p50 ${callPct(0.5)} ms, p99 ${callPct(0.99)} ms`,
  };
}

async function endToEnd() {
  const total = E2E_MESSAGES;
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

async function throughSimulator(
  latencyMs: number,
  concurrency: number,
  total: number,
  workers = 0,
  label = '',
) {
  const simulator = await startSimulator([
    '--latency-ms',
    String(latencyMs),
    '--max-messages',
    '1000',
  ]);
  const r = await deliverAll(
    total,
    {
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: 'SG.bench',
      TEGAMI_SENDGRID_BASE_URL: simulator.url,
      TEGAMI_SENDGRID_MAX_CONCURRENCY: String(concurrency),
      TEGAMI_WORKER_CONCURRENCY: String(concurrency),
      TEGAMI_WORKER_BATCH_SIZE: '500',
    },
    workers,
  );
  const stats = await simulator.stats();
  await simulator.stop();
  const processes =
    workers === 0 ? '`tegami serve`' : `1 \`tegami api\` + ${workers} \`tegami worker\``;
  rows.push(
    `| ${label}End to end: ${total.toLocaleString('en')} messages through the batch API, the \`sendgrid\` provider and \`tegami simulator\` (${latencyMs} ms simulated latency, ${concurrency} concurrent requests per worker, ${processes}) | ${r.throughput} | ${r.latency} | simulator accepted ${stats.accepted.toLocaleString('en')}, ${stats.duplicates} twice |`,
  );
}

const which = process.argv.slice(2);
// `load [contestant …]` is a bench of its own (bench/load.ts) with its own table.
if (which[0] === 'load') {
  await loadBench(which.slice(1));
  process.exit(0);
}
// `smtp`: SMTP submission beside the HTTP API (bench/smtp.ts), with its own table.
if (which[0] === 'smtp') {
  await smtpBench();
  process.exit(0);
}
const all = which.length === 0;
if (all || which.includes('single')) await singleMessages();
if (all || which.includes('batch')) await batches();
if (all || which.includes('e2e')) await endToEnd();
/**
 * Event Webhook ingestion: signed batches of 1,000 SendGrid events (processed, delivered, open)
 * about 1,000 real messages, each batch with new event ids, so every event is stored and folded
 * into its recipient's status.
 */
async function webhookEvents(label = '') {
  const keys = generateSigningKey();
  const privateKey = loadSigningKey(keys.privateKeyBase64);
  const api = await startTegami('api', {
    TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64,
  });
  const batch = { messages: Array.from({ length: 1000 }, () => JSON.parse(body)) };
  const accepted = await request(api.url, 'POST', '/v1/messages/batch', batch);
  const ids = (accepted.body.results as { id: string }[]).map((r) => r.id);
  let sequence = 0;
  const kinds = ['processed', 'delivered', 'open'];
  const makeBatch = () => {
    const now = Math.floor(Date.now() / 1000);
    const events = ids.map((id, i) => {
      sequence++;
      return {
        email: 'guest@example.com',
        event: kinds[sequence % kinds.length],
        timestamp: now,
        sg_event_id: `bench-${sequence.toString(36)}-${i}`,
        sg_message_id: `bench${i}.filterdrecv-0`,
        tegami_message_id: id,
        category: ['booking'],
      };
    });
    const payload = JSON.stringify(events);
    const timestamp = String(now);
    return {
      body: payload,
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-timestamp': timestamp,
        'x-twilio-email-event-webhook-signature': signPayload(
          privateKey,
          timestamp,
          Buffer.from(payload),
        ),
      },
    };
  };
  const run = (duration: number, connections: number) =>
    new Promise<Result>((resolve, reject) => {
      autocannon(
        {
          url: `${api.url}/webhooks/sendgrid`,
          method: 'POST',
          duration,
          connections,
          requests: [
            { setupRequest: (req: Record<string, unknown>) => ({ ...req, ...makeBatch() }) },
          ],
        },
        (err: Error | null, result: Result) => (err ? reject(err) : resolve(result)),
      );
    });
  await run(WARMUP_S, 1); // warm-up
  for (const connections of [1, 4]) {
    const r = await run(DURATION_S, connections);
    rows.push(
      `| ${label}\`POST /webhooks/sendgrid\`, signed batches of 1,000 events, ${connections} connection${connections > 1 ? 's' : ''} | ${Math.round(r.requests.average * 1000)} events/s | p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms per batch | ${r.non2xx + r.errors} errors |`,
    );
  }
  await api.stop();
}

if (all || which.includes('events')) await webhookEvents();
const postgresIngestOnly = which.includes('postgres-ingest');
if (all || which.includes('postgres') || postgresIngestOnly) {
  // PostgreSQL: a throwaway server unless BENCH_POSTGRES_URL names one.
  // `postgres-ingest` runs only the two submission scenarios.
  const server = process.env.BENCH_POSTGRES_URL
    ? { url: process.env.BENCH_POSTGRES_URL, stop: async () => {} }
    : await startBenchPostgres();
  postgresBase = server.url;
  try {
    await singleMessages('PostgreSQL: ');
    await batches('PostgreSQL: ');
    if (!postgresIngestOnly) await webhookEvents('PostgreSQL: ');
    for (const workers of postgresIngestOnly ? [] : POSTGRES_WORKERS) {
      await throughSimulator(0, 256, E2E_MESSAGES, workers, 'PostgreSQL: ');
    }
  } finally {
    postgresBase = null;
    await server.stop();
  }
}
// Not part of a plain `npm run bench`: it seeds a large database first (see bench/ops.ts).
if (which.includes('ops')) rows.push(...(await opsBench()));
// Not part of a plain `npm run bench` either: a 100,000-message backlog per engine (bench/priority.ts).
if (which.includes('priority')) console.log(`\n${(await priorityBench()).join('\n')}`);
// Nor this: 200,000 audit events per engine, searched by actor (bench/audit.ts).
if (which.includes('audit')) rows.push(...(await auditBench()));
if (all || which.includes('sendgrid')) {
  await throughSimulator(0, 256, E2E_MESSAGES);
  await throughSimulator(200, 200, LATENCY_MESSAGES);
}

console.log(
  `\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; ${DURATION_S} s per run\n`,
);
console.log('| scenario | throughput | latency | errors |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
