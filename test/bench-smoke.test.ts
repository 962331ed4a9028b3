// tegami-test: no-database

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBenchPostgres } from '../bench/postgres-server.ts';
import { findPostgresBin, onPath, type ThrowawayPostgres } from './support/postgres.ts';

/**
 * The benchmarks (bench/) run nowhere else in CI, so a change that breaks one went unseen until
 * someone ran it by hand (bench/console.ts once read the search page with a pattern that no
 * longer matched it). Here each runs as `npm run bench …` runs it, in a process of its own, at a
 * tiny size: it must end with 0 and print the table a reader pastes into docs/benchmarks.md,
 * with the rows it promises, each holding a number. Nothing here judges a number: at these sizes
 * they say nothing.
 *
 * The file is marked database-free so the test runner runs it once, not once per engine: the
 * benches make their own SQLite files, and their PostgreSQL runs go to one throwaway server this
 * file starts (BENCH_POSTGRES_URL), so one pass covers both engines. Its own server, not the
 * runner's: that one is started only for the PostgreSQL pass, and may be a server someone keeps,
 * where the benches would leave their schemas.
 */

const ROOT = new URL('../', import.meta.url).pathname;

/**
 * Far above what a bench takes here (seconds to a minute and a half): a hang, not a slow machine.
 * Once one bench has hung the rest are not started (see runBench), so a hang costs CI this once,
 * not once per bench.
 */
const BENCH_TIMEOUT_MS = 5 * 60_000;
/** After SIGTERM, how long a bench's processes get before SIGKILL. */
const STOP_GRACE_MS = 10_000;

const HAVE_POSTGRES = findPostgresBin() !== null;
const HAVE_REDIS = onPath('redis-server') !== null;

/** Benches still running, by process group: killed should this file end before they do. */
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // Detached, the bench leads a process group of its own: Tegami, the simulator, Redis, …
    process.kill(-(child.pid as number), signal);
  } catch {
    // already gone
  }
}

process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of running) killGroup(child, 'SIGKILL');
    process.exit(1);
  });
}

let folder = '';
let postgres: ThrowawayPostgres | null = null;

/**
 * What a bench gets: this process's environment without TEGAMI_* and BENCH_* settings (the test
 * run's engine, a developer's own) and without node:test's, as on a clean machine, and this
 * file's PostgreSQL server. (TMPDIR stays: tsx keeps its compiled files there, and a fresh
 * folder would have every Tegami process the benches start compile the sources again.)
 */
function benchEnv(sizes: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name === 'NODE_TEST_CONTEXT') continue;
    if (name.startsWith('TEGAMI_') || name.startsWith('BENCH_')) continue;
    env[name] = value;
  }
  return {
    ...env,
    BENCH_POSTGRES_URL: (postgres as ThrowawayPostgres).url,
    ...sizes,
  };
}

/**
 * Runs `node --import tsx <script> <args>` (what `npm run bench` runs, without npm in between)
 * to its end; resolves with what it printed once it exits with 0, rejects with the output
 * otherwise. On the timeout its whole process group is stopped.
 */
let aBenchHung = false;
function runBench(script: string, args: string[], sizes: Record<string, string>) {
  if (aBenchHung) {
    return Promise.reject(new Error('not started: an earlier bench hung (see its failure above)'));
  }
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: benchEnv(sizes),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const command = `node --import tsx ${script} ${args.join(' ')}`;
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      aBenchHung = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), STOP_GRACE_MS).unref();
    }, BENCH_TIMEOUT_MS);
    child.once('error', reject);
    // 'close', not 'exit': by then all its output is read.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      // Whatever it started and left behind goes with it.
      killGroup(child, 'SIGKILL');
      if (code === 0 && !timedOut) resolve({ stdout, stderr });
      else {
        const why = timedOut ? `still running after ${BENCH_TIMEOUT_MS / 1000} s` : '';
        reject(
          new Error(
            `${command} ${why || `exited with ${code ?? signal}`}\n--- stdout:\n${stdout.slice(-20_000)}\n--- stderr:\n${stderr.slice(-20_000)}`,
          ),
        );
      }
    });
  });
}

/**
 * The rows of the Markdown table whose header line starts with `header`, each as its cells; the
 * table must be there, with its separator line and at least one row.
 */
function tableRows(output: string, header: string): string[][] {
  const lines = output.split('\n');
  const at = lines.findIndex((line) => line.startsWith(header));
  assert.notEqual(at, -1, `no table headed "${header}" in:\n${output}`);
  assert.match(lines[at + 1] ?? '', /^\|\s*-{3}/, `no separator under "${header}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
  }
  assert.ok(rows.length > 0, `the table headed "${header}" has no row:\n${output}`);
  for (const row of rows) {
    assert.ok(
      row.slice(1).some((cell) => /\d/.test(cell)),
      `a row with no number after its first cell: | ${row.join(' | ')} |`,
    );
  }
  return rows;
}

/** Checks that `count` rows have a first cell matching `label`. */
function assertRows(rows: string[][], label: RegExp, count: number): void {
  const found = rows.filter((row) => label.test(row[0] ?? '')).length;
  assert.equal(
    found,
    count,
    `${count} rows like ${label}, found ${found}:\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`,
  );
}

/** A bench that measured refusals measured nothing: every "N errors" cell must say 0. */
function assertNoErrors(rows: string[][]): void {
  for (const row of rows) {
    for (const cell of row) {
      const errors = /^(\d+) errors$/.exec(cell);
      if (errors) assert.equal(Number(errors[1]), 0, `| ${row.join(' | ')} |`);
    }
  }
}

describe('every benchmark runs at a tiny size and prints its table', {
  skip: !HAVE_POSTGRES && 'no PostgreSQL server programs (Debian: apt-get install postgresql)',
}, () => {
  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'tegami-bench-smoke-'));
    postgres = await startBenchPostgres();
  });

  after(async () => {
    await postgres?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  test('npm run bench with every mode but load and smtp', async () => {
    const { stdout } = await runBench(
      'bench/run.ts',
      ['single', 'batch', 'e2e', 'events', 'postgres', 'ops', 'priority', 'audit', 'sendgrid'],
      {
        BENCH_DURATION_S: '1',
        BENCH_WARMUP_S: '1',
        BENCH_E2E_MESSAGES: '500',
        BENCH_SENDGRID_LATENCY_MESSAGES: '500',
        // One end-to-end run on PostgreSQL, not three: more workers are more of the same processes.
        BENCH_POSTGRES_WORKERS: '1',
        BENCH_OPS_MESSAGES: '2000',
        BENCH_PRIORITY_MESSAGES: '500',
        BENCH_AUDIT_EVENTS: '2000',
      },
    );
    const rows = tableRows(stdout, '| scenario | throughput | latency | errors |');
    assertRows(rows, /^`POST \/v1\/messages`, /, 2); // single
    assertRows(rows, /^`POST \/v1\/messages\/batch`/, 1); // batch
    assertRows(rows, /^End to end: 500 messages through the batch API to the sandbox/, 1); // e2e
    assertRows(rows, /^`POST \/webhooks\/sendgrid`/, 2); // events
    assertRows(rows, /^End to end: 500 messages through the batch API, the `sendgrid`/, 2);
    // postgres: the two submission scenarios, the Event Webhook at 1 and 4 connections, and
    // end to end with a worker
    assertRows(rows, /^PostgreSQL: (`POST|End to end)/, 6);
    // ops: per engine the seed, the unsent summary and page, three recipient searches, two dry
    // runs, a scrape and the recovery
    assertRows(rows, /^(SQLite|PostgreSQL): (seed 2,000 messages|`GET |dry run|recovery)/, 20);
    // audit: per engine the seed and seven actors
    assertRows(rows, /^(SQLite|PostgreSQL): (seed 2,000 audit events|`actor=)/, 16);
    assert.equal(rows.length, 2 + 1 + 1 + 2 + 2 + 6 + 20 + 16, 'rows of no mode asked for');
    assertNoErrors(rows);

    const priority = tableRows(stdout, '| engine | probe priority | bulk backlog |');
    assertRows(priority, /^SQLite/, 2);
    assertRows(priority, /^PostgreSQL/, 2);
    for (const row of priority) assert.match(row[2] ?? '', /^500 bulk accepted/);
  });

  test('npm run bench load: a contestant of each kind, and the profile', async () => {
    // Each way the bench starts its contestants; serve-2, pg-serve-1, pg-serve-2 and bullmq-aof
    // are these with one setting more.
    const contestants = [
      'serve',
      'sqlite-split',
      'api',
      'pg-serve',
      'pg-1',
      'pg-2',
      'noop',
      'pg-boss',
      // BullMQ needs a Redis server, which CI does not install.
      ...(HAVE_REDIS ? ['bullmq'] : []),
    ];
    const { stdout } = await runBench('bench/run.ts', ['load', ...contestants, 'profile'], {
      BENCH_LOAD_MESSAGES: '300',
      BENCH_LOAD_WARMUP: '50',
      BENCH_LOAD_RUNS: '1',
    });
    // The bench leaves the profile for its reader; here nobody reads it, so it goes first,
    // whatever the assertions below say.
    const profile = /^Profile: (\S+)\/[^/\s]+\.cpuprofile$/m.exec(stdout);
    if (profile?.[1] && basename(profile[1]).startsWith('bench-profile-')) {
      rmSync(profile[1], { recursive: true, force: true });
    }
    assert.ok(profile?.[1], `no profile named in:\n${stdout}`);
    assert.match(basename(profile[1]), /^bench-profile-/);
    const rows = tableRows(stdout, '| contestant | end to end msg/s | ingest msg/s |');
    assert.equal(rows.length, contestants.length + 1, 'a row per contestant and the profile');
    assertRows(rows, /, under --cpu-prof$/, 1);
    for (const row of rows) {
      assert.doesNotMatch(row.at(-1) ?? '', /failed POSTs/, `| ${row.join(' | ')} |`);
    }
    tableRows(stdout, '| group | on-CPU µs per message (estimate) |');
  });

  test('npm run bench smtp, on SQLite and on PostgreSQL', async () => {
    for (const engine of ['sqlite', 'postgres']) {
      const { stdout } = await runBench('bench/run.ts', ['smtp'], {
        BENCH_SMTP_MESSAGES: '200',
        BENCH_SMTP_RUNS: '1',
        BENCH_SMTP_ENGINE: engine,
      });
      assert.match(stdout, new RegExp(`^SMTP submission and the HTTP API, ${engine},`, 'm'));
      const rows = tableRows(stdout, '| transport | round | accepted msg/s |');
      assertRows(rows, /^SMTP$/, 1);
      assertRows(rows, /^HTTP$/, 1);
    }
  });

  test('bench/console.ts on databases seeded by bench/seed-ops.ts, SQLite and PostgreSQL', async () => {
    const databases = [
      `sqlite:${join(folder, 'console.db')}`,
      `${(postgres as ThrowawayPostgres).url}?schema=bench_console`,
    ];
    for (const database of databases) {
      const seeded = await runBench('bench/seed-ops.ts', [database, '2000'], {});
      assert.match(seeded.stdout, /^Seeded 2,000 messages \(\d+ failed, \d+ waiting\)/m);
      const { stdout } = await runBench('bench/console.ts', [database], {});
      const rows = tableRows(stdout, '| page | median | slowest | size |');
      assertRows(rows, /^`\/console`$/, 1);
      assertRows(rows, /^`\/console\/webhooks`$/, 1);
      // Read off the search page: a failed message and its recipient, as the bench finds them.
      assertRows(rows, /^`\/console\/messages\/msg_[0-9A-Z]+`$/, 1);
      assertRows(rows, /^`\/console\/messages\?q=to:guest-\d+@\S+`$/, 1);
      for (const row of rows) assert.match(row[1] ?? '', /^\d+(\.\d+)? ms$/);
    }
  });
});
