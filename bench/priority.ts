/**
 * `npm run bench priority`: does a confirmation wait behind bulk mail? On each engine, 100,000
 * `bulk` messages are submitted through the batch API (1,000 per request) to Tegami sending
 * through the `sendgrid` provider to `tegami simulator`; while that backlog drains, one probe
 * message is submitted every 200 ms with `POST /v1/messages`. For each probe, the time from its
 * acceptance (`created_at`) to its hand-over to the provider (its first attempt's `started_at`).
 *
 * The probes are sent twice in the same run: as `high` mail, and as `bulk` mail like the backlog
 * (what every message got before priorities existed: due order alone).
 *
 *   npm run bench priority                 # both engines
 *   BENCH_PRIORITY_MESSAGES=20000 npm run bench priority
 *
 * PostgreSQL: a throwaway server, unless BENCH_POSTGRES_URL names one (each run gets a schema).
 */
import { message, request, spawnTegami, TEST_KEY, tempDatabase, waitFor } from '../test/helpers.ts';
import { startBenchPostgres } from './postgres-server.ts';
import { openReader } from './reader.ts';
import { benchSize } from './sizes.ts';

const BACKLOG = benchSize('BENCH_PRIORITY_MESSAGES', 100_000);
const PROBE_EVERY_MS = 200;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;

/** One run: the backlog, the probes at `probePriority`; returns the row of the table. */
async function run(databaseUrl: string, engine: string, probePriority: 'high' | 'bulk') {
  const simulator = spawnTegami(['simulator', '--port', '0', '--max-messages', '1000'], {});
  const simulatorUrl = await simulator.ready;
  const env = {
    TEGAMI_DATABASE_URL: databaseUrl,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'warn',
    TEGAMI_PROVIDER: 'sendgrid',
    TEGAMI_SENDGRID_API_KEY: 'SG.bench',
    TEGAMI_SENDGRID_BASE_URL: simulatorUrl,
    TEGAMI_SENDGRID_MAX_CONCURRENCY: '256',
    TEGAMI_WORKER_CONCURRENCY: '256',
    TEGAMI_WORKER_BATCH_SIZE: '500',
  };
  // SQLite: the default `tegami serve`; PostgreSQL: an API process and a worker process.
  const sqlite = databaseUrl.startsWith('sqlite:');
  const api = spawnTegami([sqlite ? 'serve' : 'api'], env);
  const url = await api.ready;
  const worker = sqlite ? null : spawnTegami(['worker'], env);
  await worker?.ready;

  const reader = await openReader(databaseUrl);
  const count = async (where: string) =>
    Number(
      (
        await reader.all<{ n: number | string }>(
          `select count(*) as n from messages where ${where}`,
        )
      )[0]?.n,
    );

  const bulk = Array.from({ length: 1000 }, (_, i) =>
    message({ subject: `Our autumn offers (${i})`, priority: 'bulk' }),
  );
  const started = performance.now();
  const probes: string[] = [];
  let submitting = true;
  const probing = (async () => {
    let n = 0;
    while (submitting || (await count("status <> 'sent'")) > 0) {
      const r = await request(
        url,
        'POST',
        '/v1/messages',
        message({ subject: `Your booking #${++n} is confirmed`, priority: probePriority }),
      );
      if (r.status === 202) probes.push(r.body.id as string);
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
  })();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < BACKLOG; i += 1000) {
    // The last batch only the rest, so that the backlog is the size the table says.
    const messages = bulk.slice(0, Math.min(1000, BACKLOG - i));
    inFlight.push(request(url, 'POST', '/v1/messages/batch', { messages }));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const acceptedS = (performance.now() - started) / 1000;
  submitting = false;
  await probing;
  await waitFor(async () => (await count("status <> 'sent'")) === 0, 'all sent', 900_000, 100);
  const drainedS = (performance.now() - started) / 1000;

  const waits = (
    await reader.all<{ ms: number | string }>(
      `select a.started_at - m.created_at as ms from messages m
        join attempts a on a.message_id = m.id and a.number = 1
        where m.id in (${probes.map((id) => `'${id}'`).join(', ')})`,
    )
  )
    .map((r) => Number(r.ms))
    .sort((a, b) => a - b);
  await reader.close();
  worker?.child.kill('SIGTERM');
  api.child.kill('SIGTERM');
  simulator.child.kill('SIGTERM');
  await Promise.all([worker?.exited, api.exited, simulator.exited]);
  return `| ${engine} | ${probePriority} | ${BACKLOG.toLocaleString('en')} bulk accepted in ${acceptedS.toFixed(1)} s, all sent after ${drainedS.toFixed(1)} s (${Math.round(BACKLOG / drainedS)} msg/s) | ${waits.length} | ${percentile(waits, 0.5)} ms | ${percentile(waits, 0.99)} ms | ${waits[waits.length - 1]} ms |`;
}

export async function priorityBench(): Promise<string[]> {
  const rows = [
    '| engine | probe priority | bulk backlog | probes | accepted → handed to provider p50 | p99 | max |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const probePriority of ['high', 'bulk'] as const) {
    const db = tempDatabase();
    rows.push(await run(db.url, 'SQLite, `tegami serve`', probePriority));
    await db.cleanup();
  }
  const server = process.env.BENCH_POSTGRES_URL
    ? { url: process.env.BENCH_POSTGRES_URL, stop: async () => {} }
    : await startBenchPostgres();
  try {
    for (const probePriority of ['high', 'bulk'] as const) {
      const schema = `bench_priority_${probePriority}_${Date.now().toString(36)}`;
      rows.push(
        await run(
          `${server.url}?schema=${schema}`,
          'PostgreSQL, `tegami api` + 1 `tegami worker`',
          probePriority,
        ),
      );
    }
  } finally {
    await server.stop();
  }
  return rows;
}
