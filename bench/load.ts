/**
 * `npm run bench load [contestant …]`: one HTTP workload for Tegami and its peers. The same load
 * generator (autocannon, 32 keep-alive connections, in a process of its own) sends 2,000
 * single-message `POST /v1/messages` of about 1 KB as a warm-up, then 20,000 counted ones; the
 * contestant hands each message to the same SendGrid stand-in (a process of its own answering
 * 202 at once, bench/load/stand-in.ts). End to end runs from the first counted POST until the
 * stand-in has every counted message. CPU time per process comes from /proc before and after.
 *
 * Contestants: serve, serve-2 (`serve` on two threads), sqlite-split, pg-serve (`serve` on
 * PostgreSQL, one thread by default), pg-serve-1 (the same, named), pg-serve-2 (two threads), pg-1,
 * pg-2 (the default: serve, sqlite-split, pg-1, pg-2), api (`tegami api` alone on SQLite: ingest
 * only, as the no-op handler), noop, bullmq, bullmq-aof (BullMQ on a Redis that fsyncs every write),
 * pg-boss (peers, bench/peers/), `peers` (all four) or `all`. `profile` runs `tegami serve` once
 * under `node --cpu-prof` and prints where its CPU time goes during the counted messages.
 * BENCH_LOAD_MESSAGES, BENCH_LOAD_WARMUP and BENCH_LOAD_RUNS change the counts (20,000, 2,000, 2).
 * BENCH_LOAD_MAIL picks the mail: `same` (the default) sends every message to guest@example.com and
 * the stand-in answers without an X-Message-Id; `varied` sends each message to an address of its
 * own at one of 50 domains, and the stand-in answers each send with an X-Message-Id as SendGrid
 * does, so that the indexes whose keys are scattered in real traffic (recipients by address and by
 * domain, attempts by the provider's id) cost what they cost there. Every contestant gets the same
 * bodies.
 * The runs go round by round (every contestant once, then again), and where a goal's peer ran too
 * the ratios within each round are printed at the end (Tegami ÷ BullMQ, ÷ pg-boss, ingest ÷ no-op).
 * With runs of 10 s or more, each Tegami process's resident memory is also printed per tenth of the
 * run (e.g. BENCH_LOAD_MESSAGES=1000000: growth between the first and the last 100,000).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { queryDatabase, TEST_KEY, tempDatabase } from '../test/helpers.ts';
import { findPostgresBin, onPath, type ThrowawayPostgres } from '../test/support/postgres.ts';
import {
  cpuMs,
  mainThreadSchedNs,
  peakRssMiB,
  postmasterPid,
  residentMiB,
  storageWriteBytes,
  treeCpuMs,
} from './load/proc.ts';
import { summariseProfile } from './load/profile-summary.ts';
import { startBenchPostgres } from './postgres-server.ts';
import { benchSize } from './sizes.ts';

const MESSAGES = benchSize('BENCH_LOAD_MESSAGES', 20_000);
const WARMUP = benchSize('BENCH_LOAD_WARMUP', 2_000);
const RUNS = benchSize('BENCH_LOAD_RUNS', 2);
const MAIL = process.env.BENCH_LOAD_MAIL ?? 'same';
const CONNECTIONS = 32;
const DELIVERY_TIMEOUT_MS = 600_000;

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const TEGAMI_BIN = here('../bin/tegami.js');

/** A child process that prints `listening on <url>` (or `worker running`) once it is ready. */
interface Started {
  name: string;
  child: ChildProcess;
  ready: Promise<string>;
  exited: Promise<void>;
}

function start(name: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, TEGAMI_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      // Only the start is of interest; later output (warnings) is dropped.
      if (out.length < 100_000) out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
      else if (out.includes('worker running')) resolve('');
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${out}`)));
  });
  ready.catch(() => {});
  // Should the bench fail, no contestant process must outlive it.
  const killOnExit = () => child.kill('SIGTERM');
  process.on('exit', killOnExit);
  exited.then(() => process.off('exit', killOnExit));
  return { name, child, ready, exited };
}

async function stopAll(list: Started[]): Promise<void> {
  for (const s of list) s.child.kill('SIGTERM');
  await Promise.all(list.map((s) => s.exited));
}

/** A Node process of ours talking over IPC (the stand-in and the load generator). */
function forkHelper(script: string, args: string[] = []) {
  const child = fork(here(script), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const pending: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m: Record<string, unknown>) => pending.shift()?.(m));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      pending.push((m) => (m.type === 'error' ? reject(new Error(String(m.message))) : resolve(m)));
    });
  return {
    child,
    pid: child.pid as number,
    next,
    ask(message: Record<string, unknown>) {
      const answer = next();
      child.send(message);
      return answer;
    },
    tell(message: Record<string, unknown>) {
      child.send(message);
    },
    stop() {
      child.disconnect();
    },
  };
}
type Helper = ReturnType<typeof forkHelper>;

/**
 * Redis with its built-in defaults (no configuration file): only where it listens and keeps its
 * files, plus `settings` (e.g. an append-only file).
 */
async function startRedis(settings: string[] = []): Promise<RunningRedis> {
  // A random port may be taken by the time Redis binds it: another one is tried, a few times.
  for (let tries = 1; ; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    try {
      return await startRedisOn(port, settings);
    } catch (error) {
      if (tries >= 5 || !String(error).includes('Address already in use')) throw error;
    }
  }
}

interface RunningRedis {
  port: number;
  pid: number;
  stop: () => Promise<void>;
}

async function startRedisOn(port: number, settings: string[]): Promise<RunningRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', ...settings],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Should the bench fail, Redis must not outlive it.
  const killOnExit = () => child.kill('SIGTERM');
  process.on('exit', killOnExit);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('error', reject);
    // 'close', not 'exit': by then its output is all read, the reason included.
    child.once('close', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  }).catch((error: unknown) => {
    process.off('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    pid: child.pid as number,
    async stop() {
      process.off('exit', killOnExit);
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a contestant runs: its processes, the URL the load goes to, its database server. */
interface Running {
  url: string;
  processes: Started[];
  /** PostgreSQL or Redis: measured with all its child processes. */
  server: { name: string; pid: number; postgresUrl?: string } | null;
  /** False for the no-op handler: nothing reaches the stand-in. */
  delivers: boolean;
  stop(): Promise<void>;
}

interface Context {
  sendGridUrl: string;
  postgres(): Promise<ThrowawayPostgres>;
  /** Extra node options for the first Tegami process (the profile). */
  nodeOptions: string[];
}

function tegamiEnv(ctx: Context, databaseUrl: string): Record<string, string> {
  return {
    TEGAMI_DATABASE_URL: databaseUrl,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_PROVIDER: 'sendgrid',
    TEGAMI_SENDGRID_API_KEY: 'SG.bench',
    TEGAMI_SENDGRID_BASE_URL: ctx.sendGridUrl,
  };
}

/**
 * `tegami serve`, or `tegami api` and `workers` × `tegami worker`, on one database; with
 * `apiOnly`, `tegami api` and nothing that delivers (ingest only, like the no-op handler).
 */
async function startTegami(
  ctx: Context,
  databaseUrl: string,
  workers: number,
  cleanup: () => Promise<void>,
  server: Running['server'],
  extraEnv: Record<string, string> = {},
  apiOnly = false,
): Promise<Running> {
  const env = { ...tegamiEnv(ctx, databaseUrl), ...extraEnv };
  const role = workers === 0 && !apiOnly ? 'serve' : 'api';
  const main = start(`tegami ${role}`, [...ctx.nodeOptions, TEGAMI_BIN, role], {
    ...env,
    TEGAMI_HTTP_PORT: '0',
  });
  const url = await main.ready;
  // Workers start once the API has migrated the database.
  const rest = Array.from({ length: workers }, (_, i) =>
    start(`tegami worker${workers > 1 ? ` ${i + 1}` : ''}`, [TEGAMI_BIN, 'worker'], env),
  );
  await Promise.all(rest.map((w) => w.ready));
  const processes = [main, ...rest];
  return {
    url,
    processes,
    server,
    delivers: !apiOnly,
    async stop() {
      await stopAll(processes);
      await cleanup();
    },
  };
}

/** What the server has written to its WAL so far (pg_stat_wal, PostgreSQL 14 and later). */
async function walTotals(
  url: string,
): Promise<{ bytes: number; records: number; fullPages: number }> {
  const [row] = await queryDatabase<{ bytes: string; records: string; full_pages: string }>(
    url,
    'select wal_bytes::text as bytes, wal_records::text as records, wal_fpi::text as full_pages from pg_stat_wal',
  );
  return {
    bytes: Number(row?.bytes),
    records: Number(row?.records),
    fullPages: Number(row?.full_pages),
  };
}

let schemas = 0;
const freshSchema = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}_${(schemas++).toString(36)}`;

async function startPostgresTegami(
  ctx: Context,
  workers: number,
  extraEnv: Record<string, string> = {},
): Promise<Running> {
  const pg = await ctx.postgres();
  const url = new URL(pg.url);
  const pid = postmasterPid(Number(url.port));
  url.searchParams.set('schema', freshSchema('bench'));
  return startTegami(
    ctx,
    url.toString(),
    workers,
    async () => {},
    pid ? { name: 'PostgreSQL', pid, postgresUrl: pg.url } : null,
    extraEnv,
  );
}

const PEERS = here('./peers/');
const peer = (name: string) => ['--import', 'tsx', join(PEERS, name)];

/** The contestants that are not Tegami. */
const PEER_KEYS = ['noop', 'bullmq', 'bullmq-aof', 'pg-boss'];

interface Contestant {
  key: string;
  label: string;
  start(ctx: Context): Promise<Running>;
}

const CONTESTANTS: Contestant[] = [
  {
    key: 'serve',
    label: 'Tegami `serve`, SQLite (one thread)',
    async start(ctx) {
      const db = tempDatabase();
      return startTegami(ctx, db.url, 0, db.cleanup, null);
    },
  },
  {
    key: 'serve-2',
    label: 'Tegami `serve`, SQLite, two threads (TEGAMI_SERVE_THREADS=2)',
    async start(ctx) {
      const db = tempDatabase();
      return startTegami(ctx, db.url, 0, db.cleanup, null, { TEGAMI_SERVE_THREADS: '2' });
    },
  },
  {
    key: 'sqlite-split',
    label: 'Tegami `api` + `worker`, one SQLite file',
    async start(ctx) {
      const db = tempDatabase();
      return startTegami(ctx, db.url, 1, db.cleanup, null);
    },
  },
  {
    key: 'api',
    label: 'Tegami `api` alone, SQLite (no worker: ingest only)',
    async start(ctx) {
      const db = tempDatabase();
      return startTegami(ctx, db.url, 0, db.cleanup, null, {}, true);
    },
  },
  {
    key: 'pg-1',
    label: 'Tegami `api` + 1 `worker`, PostgreSQL',
    start: (ctx) => startPostgresTegami(ctx, 1),
  },
  {
    key: 'pg-serve',
    label: 'Tegami `serve`, PostgreSQL (one thread, the default)',
    start: (ctx) => startPostgresTegami(ctx, 0),
  },
  {
    key: 'pg-serve-1',
    label: 'Tegami `serve`, PostgreSQL, one thread (TEGAMI_SERVE_THREADS=1)',
    start: (ctx) => startPostgresTegami(ctx, 0, { TEGAMI_SERVE_THREADS: '1' }),
  },
  {
    key: 'pg-serve-2',
    label: 'Tegami `serve`, PostgreSQL, two threads (TEGAMI_SERVE_THREADS=2)',
    start: (ctx) => startPostgresTegami(ctx, 0, { TEGAMI_SERVE_THREADS: '2' }),
  },
  {
    key: 'pg-2',
    label: 'Tegami `api` + 2 `worker`, PostgreSQL',
    start: (ctx) => startPostgresTegami(ctx, 2),
  },
  {
    key: 'noop',
    label: 'no-op Fastify handler (HTTP ceiling)',
    async start(ctx) {
      const api = start('no-op Fastify', [...ctx.nodeOptions, ...peer('noop.ts')], {});
      const url = await api.ready;
      return { url, processes: [api], server: null, delivers: false, stop: () => stopAll([api]) };
    },
  },
  {
    key: 'bullmq',
    label: 'BullMQ 6.7 on Redis 7, defaults (worker concurrency 64)',
    start: (ctx) => startBullMq(ctx, []),
  },
  {
    key: 'bullmq-aof',
    label: "BullMQ 6.7 on Redis 7, every write fsync'd (appendfsync always)",
    // Redis answers a write once its append-only file is fsync'd (one fsync per turn of its event
    // loop): a job is on disk when `add` returns, as a message is when Tegami answers 202.
    start: (ctx) => startBullMq(ctx, ['--appendonly', 'yes', '--appendfsync', 'always']),
  },
  {
    key: 'pg-boss',
    label: 'pg-boss 10.4 (1 loop × batch 50), PostgreSQL',
    async start(ctx) {
      const pg = await ctx.postgres();
      const env = {
        BENCH_POSTGRES_URL: pg.url,
        BENCH_PG_BOSS_SCHEMA: freshSchema('pgboss'),
        BENCH_SENDGRID_URL: ctx.sendGridUrl,
      };
      // The API creates pg-boss's schema before the worker starts.
      const api = start('pg-boss API', [...ctx.nodeOptions, ...peer('pg-boss-api.ts')], env);
      const url = await api.ready;
      const worker = start('pg-boss worker', peer('pg-boss-worker.ts'), env);
      await worker.ready;
      const pid = postmasterPid(Number(new URL(pg.url).port));
      return {
        url,
        processes: [api, worker],
        server: pid ? { name: 'PostgreSQL', pid, postgresUrl: pg.url } : null,
        delivers: true,
        stop: () => stopAll([api, worker]),
      };
    },
  },
];

/** BullMQ's API and worker processes on a Redis of their own started with `redisSettings`. */
async function startBullMq(ctx: Context, redisSettings: string[]): Promise<Running> {
  const redis = await startRedis(redisSettings);
  const env = { BENCH_REDIS_PORT: String(redis.port), BENCH_SENDGRID_URL: ctx.sendGridUrl };
  const api = start('BullMQ API', [...ctx.nodeOptions, ...peer('bullmq-api.ts')], env);
  const worker = start('BullMQ worker', peer('bullmq-worker.ts'), env);
  const url = await api.ready;
  await worker.ready;
  return {
    url,
    processes: [api, worker],
    server: { name: 'Redis', pid: redis.pid },
    delivers: true,
    async stop() {
      await stopAll([api, worker]);
      await redis.stop();
    },
  };
}

interface Measured {
  label: string;
  load: number;
  endToEnd: number | null;
  ingest: number;
  p50: number | null;
  p99: number | null;
  failed: number;
  /** The first failed POST's status or error, when any failed. */
  firstFailure: string | null;
  duplicates: number;
  cpu: { name: string; msPerMessage: number }[];
  coresBusy: number;
  /** Bytes written to storage by the contestant, its database server and the helpers, per message. */
  storageKiBPerMessage: number;
  /** PostgreSQL's WAL over the counted messages (pg_stat_wal: the whole server), per message. */
  wal: { kibPerMessage: number; recordsPerMessage: number; fullPagesPerMessage: number } | null;
  rss: { name: string; mib: number }[];
  /** Highest resident memory in each tenth of the counted run (by time), per process. */
  rssByTenth: { name: string; mib: number[] }[];
  window: { startUs: bigint; endUs: bigint };
  /** The first process's main thread during the counted messages, µs. */
  mainThread: { onCpuUs: number; waitingUs: number };
}

async function waitDelivered(standIn: Helper, phase: string, count: number) {
  const answer = standIn.ask({ type: 'expect', phase, count });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new Error(`the stand-in did not get ${count} ${phase} messages`)),
      DELIVERY_TIMEOUT_MS,
    ).unref(),
  );
  return (await Promise.race([answer, timeout])) as {
    lastAt: number;
    duplicates: number;
    p50: number;
    p99: number;
  };
}

async function runOnce(
  contestant: Contestant,
  ctx: Context,
  standIn: Helper,
  loadgen: Helper,
): Promise<Measured> {
  const running = await contestant.start(ctx);
  try {
    const target = {
      type: 'run',
      url: `${running.url}/v1/messages`,
      authorization: `Bearer ${TEST_KEY}`,
      connections: CONNECTIONS,
    };
    standIn.tell({ type: 'reset' });
    const warm = await loadgen.ask({ ...target, phase: 'warm', amount: WARMUP });
    if (running.delivers) await waitDelivered(standIn, 'warm', Number(warm.ok));
    standIn.tell({ type: 'reset' });

    const load = loadavg()[0] ?? 0;
    const measured = [
      ...running.processes.map((p) => ({ name: p.name, pid: p.child.pid as number, tree: false })),
      ...(running.server ? [{ ...running.server, tree: true }] : []),
      { name: 'stand-in', pid: standIn.pid, tree: false },
      { name: 'load generator', pid: loadgen.pid, tree: false },
    ];
    const cpuNow = () => measured.map((p) => (p.tree ? treeCpuMs(p.pid) : cpuMs(p.pid)));
    const storedNow = () => measured.map((p) => storageWriteBytes(p.pid, p.tree));
    const mainPid = running.processes[0]?.child.pid as number;
    const schedBefore = mainThreadSchedNs(mainPid);
    const before = cpuNow();
    const storedBefore = storedNow();
    const walBefore = running.server?.postgresUrl
      ? await walTotals(running.server.postgresUrl)
      : null;
    const startUs = process.hrtime.bigint() / 1000n;
    const wallStart = performance.now();
    // Resident memory of each contestant process once a second, to tell growth from a peak.
    const rssSamples: number[][] = [];
    const sampler = setInterval(() => {
      rssSamples.push(running.processes.map((p) => residentMiB(p.child.pid as number)));
    }, 1000);
    const run = await loadgen.ask({ ...target, phase: 'run', amount: MESSAGES });
    const delivered = running.delivers ? await waitDelivered(standIn, 'run', Number(run.ok)) : null;
    clearInterval(sampler);
    const wallMs = performance.now() - wallStart;
    const endUs = process.hrtime.bigint() / 1000n;
    const after = cpuNow();
    const storedAfter = storedNow();
    const walAfter = running.server?.postgresUrl
      ? await walTotals(running.server.postgresUrl)
      : null;
    const schedAfter = mainThreadSchedNs(mainPid);

    const startedAt = Number(run.startedAt);
    const ok = Number(run.ok);
    const totalCpu = after.reduce((sum, ms, i) => sum + ms - (before[i] ?? 0), 0);
    return {
      label: contestant.label,
      load,
      endToEnd: delivered ? ok / ((delivered.lastAt - startedAt) / 1000) : null,
      ingest: ok / ((Number(run.finishedAt) - startedAt) / 1000),
      p50: delivered?.p50 ?? null,
      p99: delivered?.p99 ?? null,
      failed: Number(run.failed),
      firstFailure: typeof run.firstFailure === 'string' ? run.firstFailure : null,
      duplicates: delivered?.duplicates ?? 0,
      cpu: measured.map((p, i) => ({
        name: p.name,
        msPerMessage: ((after[i] ?? 0) - (before[i] ?? 0)) / ok,
      })),
      coresBusy: totalCpu / wallMs,
      wal:
        walBefore && walAfter
          ? {
              kibPerMessage: (walAfter.bytes - walBefore.bytes) / 1024 / ok,
              recordsPerMessage: (walAfter.records - walBefore.records) / ok,
              fullPagesPerMessage: (walAfter.fullPages - walBefore.fullPages) / ok,
            }
          : null,
      storageKiBPerMessage:
        storedAfter.reduce((sum, bytes, i) => sum + bytes - (storedBefore[i] ?? 0), 0) / 1024 / ok,
      rss: running.processes.map((p) => ({
        name: p.name,
        mib: peakRssMiB(p.child.pid as number),
      })),
      rssByTenth: running.processes.map((p, i) => ({
        name: p.name,
        mib: tenths(rssSamples.map((sample) => sample[i] ?? Number.NaN)),
      })),
      window: { startUs, endUs },
      mainThread: {
        onCpuUs: (schedAfter.onCpu - schedBefore.onCpu) / 1000,
        waitingUs: (schedAfter.waiting - schedBefore.waiting) / 1000,
      },
    };
  } finally {
    await running.stop();
  }
}

/** The highest value in each tenth of the samples (empty when there are fewer than ten). */
function tenths(samples: number[]): number[] {
  if (samples.length < 10) return [];
  return Array.from({ length: 10 }, (_, t) =>
    Math.max(
      ...samples.slice(
        Math.floor((t * samples.length) / 10),
        Math.floor(((t + 1) * samples.length) / 10),
      ),
    ),
  );
}

const thousands = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number | null) =>
  n === null ? '–' : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;

function row(m: Measured): string {
  const total = m.cpu.reduce((sum, p) => sum + p.msPerMessage, 0);
  const parts = m.cpu.map((p) => `${p.name} ${p.msPerMessage.toFixed(3)}`).join(', ');
  const rss = m.rss.map((p) => `${p.name} ${Math.round(p.mib)}`).join(', ');
  const problems = [
    m.failed > 0 ? `${m.failed} failed POSTs (first: ${m.firstFailure ?? 'unknown'})` : '',
    m.duplicates > 0 ? `${m.duplicates} sent twice` : '',
  ].filter(Boolean);
  return `| ${m.label} | ${m.endToEnd === null ? '–' : thousands(m.endToEnd)} | ${thousands(m.ingest)} | ${ms(m.p50)} / ${ms(m.p99)} | ${total.toFixed(2)} (${parts}) | ${m.coresBusy.toFixed(2)} | ${m.storageKiBPerMessage.toFixed(1)} | ${rss} | ${m.load.toFixed(2)}${problems.length ? `; ${problems.join(', ')}` : ''} |`;
}

export async function loadBench(args: string[]): Promise<void> {
  const profile = args.includes('profile');
  const wanted = new Set(args.filter((a) => a !== 'profile'));
  const tegami = ['serve', 'sqlite-split', 'pg-1', 'pg-2'];
  const peers = PEER_KEYS;
  if (wanted.has('all')) for (const k of [...tegami, ...peers]) wanted.add(k);
  if (wanted.has('peers')) for (const k of peers) wanted.add(k);
  if (wanted.size === 0 && !profile) for (const k of tegami) wanted.add(k);
  const unknown = [...wanted].filter(
    (k) => k !== 'all' && k !== 'peers' && !CONTESTANTS.some((c) => c.key === k),
  );
  if (unknown.length > 0) {
    throw new Error(
      `unknown contestant ${unknown.join(', ')}; known: ${CONTESTANTS.map((c) => c.key).join(', ')}, peers, all, profile`,
    );
  }

  // Checked before the first run: a missing program found at its contestant's turn would end the
  // bench after minutes of runs, with none of their rows printed.
  const needs = [
    ...(['bullmq', 'bullmq-aof'].some((k) => wanted.has(k)) && !onPath('redis-server')
      ? [
          '`bullmq` and `bullmq-aof` need `redis-server` on PATH (Debian: apt-get install redis-server)',
        ]
      : []),
    ...(CONTESTANTS.some((c) => wanted.has(c.key) && /^pg-/.test(c.key)) &&
    !process.env.BENCH_POSTGRES_URL &&
    !findPostgresBin()
      ? [
          "the PostgreSQL contestants need PostgreSQL's server programs (Debian: apt-get install postgresql), or BENCH_POSTGRES_URL",
        ]
      : []),
  ];
  if (needs.length > 0) throw new Error(`cannot run these contestants here: ${needs.join('; ')}`);
  if (MAIL !== 'same' && MAIL !== 'varied') {
    throw new Error(`BENCH_LOAD_MAIL: ${MAIL} is neither same nor varied`);
  }
  const varied = MAIL === 'varied' ? ['--varied'] : [];

  const standIn = forkHelper('./load/stand-in.ts', varied);
  const sendGridUrl = String((await standIn.next()).url);
  const loadgen = forkHelper('./load/loadgen.ts', varied);
  await loadgen.next();
  let postgres: Promise<ThrowawayPostgres> | null = null;
  const ctx: Context = {
    sendGridUrl,
    postgres: () => {
      postgres ??= process.env.BENCH_POSTGRES_URL
        ? Promise.resolve({
            url: process.env.BENCH_POSTGRES_URL,
            restart: async () => {},
            stop: async () => {},
          })
        : startBenchPostgres();
      return postgres;
    },
    nodeOptions: [],
  };
  const rows: string[] = [];
  const rounds: Map<string, Measured>[] = [];
  try {
    // Round by round, every contestant once per round: the machine's speed drifts, and a
    // contestant's runs all in a row would meet a different machine than its peer's.
    for (let i = 0; i < RUNS; i++) {
      const round = new Map<string, Measured>();
      rounds.push(round);
      for (const contestant of CONTESTANTS.filter((c) => wanted.has(c.key))) {
        const m = await runOnce(contestant, ctx, standIn, loadgen);
        round.set(contestant.key, m);
        console.log(row(m));
        rows.push(row(m));
        if (m.wal) {
          console.log(
            `  ${m.label}: PostgreSQL WAL per message ${m.wal.kibPerMessage.toFixed(1)} KiB, ${m.wal.recordsPerMessage.toFixed(1)} records, ${m.wal.fullPagesPerMessage.toFixed(2)} full-page images`,
          );
        }
        for (const p of m.rssByTenth.filter((r) => r.mib.length > 0)) {
          // Growth shows as a rising line; a steady one is a working set, not a leak.
          console.log(
            `  ${m.label}, ${p.name}: resident MiB, highest per tenth of the run: ${p.mib.map((v) => Math.round(v)).join(', ')}`,
          );
        }
      }
    }
    if (profile) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
      const key = process.env.BENCH_LOAD_PROFILE ?? 'serve';
      const profiled = CONTESTANTS.find((c) => c.key === key);
      if (!profiled) throw new Error(`BENCH_LOAD_PROFILE: unknown contestant ${key}`);
      const m = await runOnce(
        profiled,
        { ...ctx, nodeOptions: ['--cpu-prof', '--cpu-prof-dir', dir] },
        standIn,
        loadgen,
      );
      rows.push(row({ ...m, label: `${m.label}, under --cpu-prof` }));
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no profile was written to ${dir}`);
      console.log(`\nProfile: ${join(dir, file)}\n`);
      console.log(summariseProfile(join(dir, file), m.window, MESSAGES, m.mainThread));
    }
  } finally {
    standIn.stop();
    loadgen.stop();
    if (postgres) await (await postgres).stop();
  }
  console.log(
    `\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; ${MESSAGES.toLocaleString('en')} messages after ${WARMUP.toLocaleString('en')} for warm-up, ${CONNECTIONS} connections, BENCH_LOAD_MAIL=${MAIL}\n`,
  );
  console.log(
    '| contestant | end to end msg/s | ingest msg/s | e2e latency p50 / p99 | CPU ms per message: all (per process) | cores busy | written to storage, KiB per message | peak RSS MiB | load (1 min) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  const ratios = goalRatios(rounds);
  if (ratios.length > 0) {
    console.log('\nRatios within each round (the goals of the load issue), median and range:\n');
    for (const r of ratios) console.log(r);
  }
}

/**
 * Tegami against the peer each goal names, within each round (both ran minutes apart on the same
 * machine): SQLite contestants end to end ÷ BullMQ, PostgreSQL ones ÷ pg-boss, every Tegami
 * contestant's ingest ÷ the no-op handler's.
 */
function goalRatios(rounds: Map<string, Measured>[]): string[] {
  const lines: string[] = [];
  const compare = (key: string, peer: string, what: 'endToEnd' | 'ingest', goal: number) => {
    const values: number[] = [];
    for (const round of rounds) {
      const ours = round.get(key)?.[what];
      const theirs = round.get(peer)?.[what];
      if (ours && theirs) values.push(ours / theirs);
    }
    if (values.length === 0) return;
    const label = CONTESTANTS.find((c) => c.key === key)?.label ?? key;
    const peerLabel = CONTESTANTS.find((c) => c.key === peer)?.label ?? peer;
    const range =
      values.length > 1
        ? ` (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`
        : '';
    lines.push(
      `- ${label} ÷ ${peerLabel}, ${what === 'endToEnd' ? 'end to end' : 'ingest'}: ${median(values).toFixed(2)}×${range} over ${values.length} round${values.length > 1 ? 's' : ''}; goal ${goal}×`,
    );
  };
  for (const key of ['serve', 'serve-2', 'sqlite-split']) compare(key, 'bullmq', 'endToEnd', 1.5);
  // The issue's goal names BullMQ's defaults; the durable set-up is shown beside it.
  for (const key of ['serve', 'serve-2', 'sqlite-split']) {
    compare(key, 'bullmq-aof', 'endToEnd', 1.5);
  }
  for (const key of ['pg-1', 'pg-2', 'pg-serve', 'pg-serve-1', 'pg-serve-2'])
    compare(key, 'pg-boss', 'endToEnd', 3);
  for (const c of CONTESTANTS) {
    if (!PEER_KEYS.includes(c.key)) compare(c.key, 'noop', 'ingest', 0.5);
  }
  return lines;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
