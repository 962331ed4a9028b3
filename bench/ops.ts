/**
 * `npm run bench ops`: the operations layer on a large database, on SQLite and PostgreSQL.
 * Seeds BENCH_OPS_MESSAGES messages (default 100,000; the full run is 1,000,000) with
 * bench/seed-ops.ts, starts `tegami api` on it, and times over real HTTP: the unsent summary and
 * first page, recipient searches (an address, a small domain, the big domain), dry runs, and a
 * recovery that requeues every dead-lettered message. BENCH_OPS_ENGINES=sqlite (or postgres)
 * runs one engine.
 *
 * BENCH_OPS_SEEDED=<folder> seeds once and reuses the data: the first run keeps the seeded
 * database (SQLite: a file in the folder; PostgreSQL: a database on the BENCH_POSTGRES_URL
 * server, which must outlive the run), later runs work on a copy of it. Two versions of Tegami
 * are then measured on the same data, and seeding 1,000,000 messages (minutes) happens once.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parsePostgresUrl } from '../src/store/engine/postgres.ts';
import { request, spawnTegami, TEST_KEY, tempDatabase, waitFor } from '../test/helpers.ts';
import { startBenchPostgres } from './postgres-server.ts';
import { BIG_DOMAIN, type SeedResult, seedOps } from './seed-ops.ts';
import { benchSize } from './sizes.ts';

const TARGETS = {
  summary: 200,
  recipient: 50,
  dryRun: 1000,
  requeue100k: 10_000,
};

interface Timing {
  p50: number;
  max: number;
}

async function timed(runs: number, call: (i: number) => Promise<{ status: number }>) {
  const ms: number[] = [];
  await call(0); // warm-up: statement caches, pages in memory
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const r = await call(i + 1);
    ms.push(performance.now() - started);
    if (r.status >= 300) throw new Error(`status ${r.status}`);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length / 2)] ?? 0, max: ms[ms.length - 1] ?? 0 };
}

const fmt = (t: Timing) => `p50 ${t.p50.toFixed(1)} ms, max ${t.max.toFixed(1)} ms`;
const verdict = (t: Timing, target: number) =>
  t.p50 < target ? `< ${target} ms — met` : `< ${target} ms — **not met**`;

async function onEngine(
  label: string,
  url: string,
  total: number,
  seeded: { result: SeedResult; reused: boolean },
): Promise<string[]> {
  const rows: string[] = [];
  const seed = seeded.result;
  rows.push(
    `| ${label}: seed ${seed.messages.toLocaleString('en')} messages (${seed.failed.toLocaleString('en')} failed, ${seed.waiting} waiting) | ${seed.seconds.toFixed(1)} s${seeded.reused ? ' (earlier; a copy of it here)' : ''} | | |`,
  );
  const child = spawnTegami(['api'], {
    TEGAMI_DATABASE_URL: url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'warn',
    // Dead letters and waiting mail are the unsent mail here; sent mail is confirmed.
    TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    TEGAMI_METRICS_CACHE_S: '0',
  });
  const api = await child.ready;
  const get = (path: string) => request(api, 'GET', path);
  try {
    const summary = await timed(10, () => get('/v1/unsent/summary'));
    const body = (await get('/v1/unsent/summary')).body;
    rows.push(
      `| ${label}: \`GET /v1/unsent/summary\` (${body.total.toLocaleString('en')} unsent) | ${fmt(summary)} | ${verdict(summary, TARGETS.summary)} | |`,
    );
    const page = await timed(10, () => get('/v1/unsent?limit=50'));
    rows.push(`| ${label}: \`GET /v1/unsent?limit=50\` | ${fmt(page)} | | |`);
    const recipient = await timed(20, (i) =>
      get(`/v1/messages?recipient=${seed.sampleRecipients[i % seed.sampleRecipients.length]}`),
    );
    rows.push(
      `| ${label}: \`GET /v1/messages?recipient=<address>\` (20 addresses) | ${fmt(recipient)} | ${verdict(recipient, TARGETS.recipient)} | |`,
    );
    const small = await timed(10, () =>
      get(`/v1/messages?recipient=${encodeURIComponent(`@${seed.smallDomain}`)}`),
    );
    rows.push(
      `| ${label}: \`GET /v1/messages?recipient=@<domain>\` (a domain with ~${Math.round((total * 0.7) / 500).toLocaleString('en')} messages) | ${fmt(small)} | | |`,
    );
    const big = await timed(10, () =>
      get(`/v1/messages?recipient=${encodeURIComponent(`@${BIG_DOMAIN}`)}`),
    );
    rows.push(
      `| ${label}: \`GET /v1/messages?recipient=@${BIG_DOMAIN}\` (~${Math.round(total * 0.3).toLocaleString('en')} messages) | ${fmt(big)} | | |`,
    );
    const dry = (filter: Record<string, unknown>) =>
      request(api, 'POST', '/v1/recoveries', { action: 'retry', filter });
    const dryAll = await timed(5, () => dry({ status: 'failed' }));
    rows.push(
      `| ${label}: dry run \`{"status":"failed"}\` (${seed.failed.toLocaleString('en')} matched) | ${fmt(dryAll)} | ${verdict(dryAll, TARGETS.dryRun)} | |`,
    );
    const narrow = {
      status: 'failed',
      category: 'booking',
      unit: 'hotel',
      error_class: 'http_400',
    };
    const dryNarrow = await timed(5, () => dry(narrow));
    const narrowCount = (await dry(narrow)).body.matched as number;
    rows.push(
      `| ${label}: dry run \`${JSON.stringify(narrow)}\` (${narrowCount.toLocaleString('en')} matched) | ${fmt(dryNarrow)} | ${verdict(dryNarrow, TARGETS.dryRun)} | |`,
    );

    // Every gauge read from the database (the cache is off here): the cost of one scrape, and
    // an upper bound of one alert evaluation, which reads a subset of the same.
    const scrape = await timed(5, () => get('/metrics'));
    rows.push(
      `| ${label}: \`GET /metrics\` (cluster gauges read from the database, no cache) | ${fmt(scrape)} | | |`,
    );

    const started = performance.now();
    const recovery = await request(api, 'POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      dry_run: false,
    });
    if (recovery.status !== 202) throw new Error(JSON.stringify(recovery.body));
    const snapshotMs = performance.now() - started;
    const done = await waitFor(
      async () => {
        const r = await get(`/v1/recoveries/${recovery.body.id}`);
        return r.body.state === 'done' ? r.body : null;
      },
      'the recovery',
      600_000,
      50,
    );
    const seconds = (performance.now() - started) / 1000;
    const rate = done.done / seconds;
    const target = TARGETS.requeue100k / 1000;
    rows.push(
      `| ${label}: recovery requeueing ${done.done.toLocaleString('en')} failed messages (set fixed in ${(snapshotMs / 1000).toFixed(2)} s) | ${seconds.toFixed(1)} s, ${Math.round(rate).toLocaleString('en')} msg/s | 100,000 < ${target} s: ${100_000 / rate < target ? 'met' : '**not met**'} (${(100_000 / rate).toFixed(1)} s at this rate${done.done < 100_000 ? ', extrapolated' : ''}) | |`,
    );
  } finally {
    child.child.kill('SIGTERM');
    await child.exited;
  }
  return rows;
}

/** The seeded SQLite file kept in `folder`, seeded first if missing; its seed result. */
async function keptSqlite(folder: string, total: number) {
  const file = join(folder, `ops-${total}.db`);
  const about = join(folder, `ops-${total}.sqlite.json`);
  if (existsSync(file) && existsSync(about)) {
    return { file, result: JSON.parse(readFileSync(about, 'utf8')) as SeedResult, reused: true };
  }
  const result = await seedOps(`sqlite:${file}`, total);
  writeFileSync(about, JSON.stringify(result));
  return { file, result, reused: false };
}

/**
 * A fresh database on the server of `base` that is a copy (CREATE DATABASE … TEMPLATE) of a
 * kept seeded one, seeded first if missing.
 */
async function keptPostgres(folder: string, base: string, total: number) {
  const template = `bench_ops_seed_${total}`;
  const about = join(folder, `ops-${total}.postgres.json`);
  const withDatabase = (name: string) => {
    const url = new URL(base);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    const exists =
      (await admin.query('select 1 from pg_database where datname = $1', [template])).rowCount ===
      1;
    let result: SeedResult;
    let reused = exists && existsSync(about);
    if (reused) {
      result = JSON.parse(readFileSync(about, 'utf8')) as SeedResult;
    } else {
      if (exists) await admin.query(`drop database ${template}`);
      await admin.query(`create database ${template}`);
      result = await seedOps(withDatabase(template), total);
      writeFileSync(about, JSON.stringify(result));
      reused = false;
    }
    const copy = `bench_ops_${Date.now().toString(36)}`;
    await admin.query(`create database ${copy} template ${template}`);
    const drop = async () => {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`drop database if exists ${copy}`).finally(() => client.end());
    };
    return { url: withDatabase(copy), result, reused, drop };
  } finally {
    await admin.end();
  }
}

export async function opsBench(): Promise<string[]> {
  const total = benchSize('BENCH_OPS_MESSAGES', 100_000);
  const engines = (process.env.BENCH_OPS_ENGINES ?? 'sqlite,postgres').split(',');
  const keep = process.env.BENCH_OPS_SEEDED;
  const rows: string[] = [];
  if (engines.includes('sqlite')) {
    const db = tempDatabase();
    try {
      let seeded: { result: SeedResult; reused: boolean };
      if (keep) {
        const kept = await keptSqlite(keep, total);
        copyFileSync(kept.file, db.url.slice('sqlite:'.length));
        seeded = kept;
      } else {
        seeded = { result: await seedOps(db.url, total), reused: false };
      }
      rows.push(...(await onEngine('SQLite', db.url, total, seeded)));
    } finally {
      await db.cleanup();
    }
  }
  if (engines.includes('postgres')) {
    if (keep && !process.env.BENCH_POSTGRES_URL) {
      throw new Error('BENCH_OPS_SEEDED keeps PostgreSQL data on a server: set BENCH_POSTGRES_URL');
    }
    const server = process.env.BENCH_POSTGRES_URL
      ? { url: process.env.BENCH_POSTGRES_URL, stop: async () => {} }
      : await startBenchPostgres();
    try {
      const base = parsePostgresUrl(server.url).connectionString;
      if (keep) {
        const kept = await keptPostgres(keep, base, total);
        try {
          rows.push(...(await onEngine('PostgreSQL', kept.url, total, kept)));
        } finally {
          await kept.drop();
        }
      } else {
        const separator = base.includes('?') ? '&' : '?';
        const url = `${base}${separator}schema=bench_ops_${Date.now().toString(36)}`;
        const seeded = { result: await seedOps(url, total), reused: false };
        rows.push(...(await onEngine('PostgreSQL', url, total, seeded)));
      }
    } finally {
      await server.stop();
    }
  }
  return rows;
}
