/**
 * `npm run bench audit`: the audit log's actor filter on a large log, on SQLite and PostgreSQL.
 * Seeds BENCH_AUDIT_EVENTS audit events (default 200,000) over the last 300 days, starts
 * `tegami api` on them and times `GET /v1/audit-events?actor=…` (a page of 50) over real HTTP
 * for actors the log holds often, rarely, only long ago, or never. BENCH_AUDIT_ENGINES=sqlite
 * (or postgres) runs one engine.
 *
 * Who acted: a key named `hotel app` (40% of the events), `restaurant app` (20%), five console
 * users (5% each), the OS user `deploy` (10%, with `tegami`), a key `old app` that did half of
 * the oldest tenth and nothing since (a revoked key), and `billing app`, every 1,000th event.
 * Rows are written straight into the table, the way Tegami writes them. PostgreSQL's table is
 * analyzed after seeding, as autovacuum would have done on a log that grew to this size.
 */
import { sql } from 'kysely';
import { ulid } from 'ulidx';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { request, spawnTegami, TEST_KEY, tempDatabase } from '../test/helpers.ts';
import { startBenchPostgres } from './postgres-server.ts';
import { benchSize } from './sizes.ts';

// Ten columns a row: 20,000 parameters, under SQLite's 32,766.
const BATCH = 2_000;
const DAY_MS = 24 * 3600_000;
const RUNS = 20;

/** Deterministic pseudo-random numbers, so two runs seed the same shape. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const CONSOLE_USERS = [1, 2, 3, 4, 5].map((n) => `ops${n}@example.jp`);

function actorOf(i: number, total: number, r: number) {
  if (i % 1000 === 500) return { type: 'key', id: 'key_billing', name: 'billing app' };
  if (i < total / 10 && r < 0.5) return { type: 'key', id: 'key_old', name: 'old app' };
  if (r < 0.4) return { type: 'key', id: 'key_hotel', name: 'hotel app' };
  if (r < 0.6) return { type: 'key', id: 'key_restaurant', name: 'restaurant app' };
  if (r < 0.85) {
    const n = Math.floor(((r - 0.6) / 0.25) * CONSOLE_USERS.length);
    return { type: 'console', id: `usr_${n}`, name: CONSOLE_USERS[n] ?? '' };
  }
  return { type: 'cli', id: 'deploy', name: 'tegami' };
}

/** Who is asked for, as an operator types it, and what about them it shows. */
const ASKED: [actor: string, about: string][] = [
  ['hotel app', 'a key name with 40% of the events'],
  ['OPS3@example.jp', "a console user's e-mail, in capitals: 5%"],
  ['cli:deploy', 'an OS user, typed: 10%'],
  ['key_hotel', 'the hotel key by id, through the index there was'],
  ['billing app', 'a key name with one event in 1,000'],
  ['old app', 'a key name whose events are all in the oldest tenth'],
  ['nobody', 'a name that never acted'],
];

async function seed(url: string, total: number): Promise<number> {
  const started = performance.now();
  const handle = openDatabase(url, { poolSize: 2 });
  await migrateToLatest(handle.db);
  if (handle.engine === 'sqlite') {
    // Seeding only: the benchmark measures reads. Tegami itself always runs with FULL.
    await sql`pragma synchronous = off`.execute(handle.db);
  }
  const rand = random(7);
  const first = Date.now() - 300 * DAY_MS;
  const step = (300 * DAY_MS) / total;
  for (let offset = 0; offset < total; offset += BATCH) {
    const rows = Array.from({ length: Math.min(BATCH, total - offset) }, (_, j) => {
      const i = offset + j;
      const at = Math.floor(first + i * step);
      const actor = actorOf(i, total, rand());
      return {
        id: `aud_${ulid(at)}`,
        at,
        actor_type: actor.type,
        actor_id: actor.id,
        actor_name: actor.name,
        unit_id: null,
        action: i % 5 === 0 ? 'message.retry' : 'suppression.add',
        target: null,
        filter: null,
        counts: null,
      };
    });
    await handle.db.insertInto('audit_events').values(rows).execute();
  }
  if (handle.engine === 'postgres') await sql`analyze audit_events`.execute(handle.db);
  await handle.close();
  return (performance.now() - started) / 1000;
}

async function onEngine(label: string, url: string, total: number): Promise<string[]> {
  const seconds = await seed(url, total);
  const rows = [
    `| ${label}: seed ${total.toLocaleString('en')} audit events | ${seconds.toFixed(1)} s | | |`,
  ];
  const child = spawnTegami(['api'], {
    TEGAMI_DATABASE_URL: url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'warn',
  });
  const api = await child.ready;
  try {
    for (const [actor, about] of ASKED) {
      const path = `/v1/audit-events?limit=50&actor=${encodeURIComponent(actor)}`;
      const first = await request(api, 'GET', path); // warm-up: statement caches, pages in memory
      if (first.status !== 200) throw new Error(`${path}: ${first.status}`);
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        await request(api, 'GET', path);
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      const p50 = ms[Math.floor(ms.length / 2)] ?? 0;
      const max = ms[ms.length - 1] ?? 0;
      rows.push(
        `| ${label}: \`actor=${actor}\` (${about}) | p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms | ${(first.body.data as unknown[]).length} events | |`,
      );
    }
  } finally {
    child.child.kill('SIGTERM');
    await child.exited;
  }
  return rows;
}

export async function auditBench(): Promise<string[]> {
  const total = benchSize('BENCH_AUDIT_EVENTS', 200_000);
  const engines = (process.env.BENCH_AUDIT_ENGINES ?? 'sqlite,postgres').split(',');
  const rows: string[] = [];
  if (engines.includes('sqlite')) {
    const db = tempDatabase();
    try {
      rows.push(...(await onEngine('SQLite', db.url, total)));
    } finally {
      await db.cleanup();
    }
  }
  if (engines.includes('postgres')) {
    const server = process.env.BENCH_POSTGRES_URL
      ? { url: process.env.BENCH_POSTGRES_URL, stop: async () => {} }
      : await startBenchPostgres();
    try {
      const url = `${server.url}?schema=bench_audit_${Date.now().toString(36)}`;
      rows.push(...(await onEngine('PostgreSQL', url, total)));
    } finally {
      await server.stop();
    }
  }
  return rows;
}
