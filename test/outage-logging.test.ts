import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, type TestContext, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import pino from 'pino';
import { OutageLog } from '../src/ops/outage-log.ts';
import {
  message,
  queryDatabase,
  request,
  runTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type ClusterProcess, ProcessGroup } from './support/cluster.ts';
import { findPostgresBin, startThrowawayPostgres } from './support/postgres.ts';

/**
 * While the database is away, the loops that use it fail on every round (the worker every
 * 250 ms, status webhooks every 500 ms, every API request). The log must show the outage as a
 * state change: one line when it begins, one when it ends, and at most a summary now and then.
 */

interface LogLine {
  level: number;
  msg: string;
  err?: { stack?: string };
  [field: string]: unknown;
}

function capture(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** pino writes asynchronously to a Writable: let it flush. */
const flushed = () => new Promise((resolve) => setImmediate(resolve));

const DOWN = /database operations failing since/;
const BACK = /database operations work again after/;
const STILL = /database operations still failing since/;

describe('OutageLog: failures as state changes', () => {
  test('an outage is one line with the stack, a summary every 30 s, and one line when it ends', async () => {
    const { logger, lines } = capture();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const outage = new OutageLog(logger, () => now);
    outage.succeeded('claiming due messages');
    assert.equal(outage.failingNow, false);

    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    // 65 s of failures: the worker's claim loop every 250 ms, webhooks every 500 ms.
    for (let t = 0; t < 65_000; t += 250) {
      now += 250;
      outage.failed('claiming due messages', refused);
      if (t % 500 === 0) outage.failed('delivering status webhooks', refused);
    }
    assert.equal(outage.failingNow, true);
    now += 100;
    outage.succeeded('claiming due messages');
    // Status webhooks failed 100 ms ago and have not succeeded yet: not back.
    await flushed();
    assert.equal(lines.filter((l) => BACK.test(l.msg)).length, 0);
    now += 400;
    outage.succeeded('delivering status webhooks');
    await flushed();

    assert.deepEqual(
      lines.map((l) =>
        DOWN.test(l.msg) ? 'down' : STILL.test(l.msg) ? 'still' : BACK.test(l.msg) ? 'back' : l.msg,
      ),
      ['down', 'still', 'still', 'back'],
    );
    const [down, still, , back] = lines as [LogLine, LogLine, LogLine, LogLine];
    assert.equal(down.level, 50, 'error');
    assert.equal(down.operation, 'claiming due messages');
    assert.match(down.err?.stack ?? '', /ECONNREFUSED/, 'the first failure keeps its stack');
    assert.equal(still.level, 40, 'warn');
    assert.equal(still.err, undefined, 'summaries carry no stack');
    assert.match(String(still.lastError), /ECONNREFUSED/);
    assert.deepEqual(Object.keys(still.operations as object).sort(), [
      'claiming due messages',
      'delivering status webhooks',
    ]);
    assert.equal(back.level, 40);
    assert.equal(back.failures, 260 + 130);
    // Working again from the first success after the last failure (the claim at +100 ms).
    assert.equal(back.downMs, 65_000 + 100 - 250);
    assert.equal(outage.failingNow, false);

    // A new outage starts a new episode.
    now += 1_000;
    outage.failed('maintenance', refused);
    await flushed();
    assert.match(lines.at(-1)?.msg ?? '', DOWN);
  });

  test('one operation that keeps failing holds the outage open; others succeeding do not flap it', async () => {
    const { logger, lines } = capture();
    let now = 0;
    const outage = new OutageLog(logger, () => now);
    for (let i = 0; i < 200; i++) {
      now += 250;
      outage.failed('publishing provider health', new Error('no such table: provider_health'));
      outage.succeeded('claiming due messages');
    }
    await flushed();
    assert.deepEqual(
      lines.map((l) => l.msg.replace(/ since .*/, '')),
      ['database operations failing', 'database operations still failing'],
    );
  });

  test('the summary keeps counting an operation that failed in a burst and went quiet', async () => {
    const { logger, lines } = capture();
    let now = 0;
    const outage = new OutageLog(logger, () => now);
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    outage.failed('claiming due messages', full);
    // A disk-full drill: the results of 128 sends given up at once, when their leases ran out.
    now = 20_000;
    for (let i = 0; i < 128; i++) outage.failed('recording attempt results', full);
    // Claims go on failing every 250 ms while something that needs no write succeeds.
    for (let t = 20_000; t <= 31_000; t += 250) {
      now = t;
      outage.failed('claiming due messages', full);
      outage.succeeded('renewing leases');
    }
    await flushed();
    const still = lines.filter((l) => STILL.test(l.msg));
    assert.equal(still.length, 1);
    const operations = still[0]?.operations as Record<string, number>;
    assert.equal(operations['recording attempt results'], 128, 'the results given up are counted');
    assert.equal(
      operations['claiming due messages'],
      1 + 41,
      'every claim up to the summary at 30 s',
    );
    assert.equal(lines.filter((l) => BACK.test(l.msg)).length, 0);
  });

  test('an operation that ran once in the outage does not delay the end for long', async () => {
    const { logger, lines } = capture();
    let now = 0;
    const outage = new OutageLog(logger, () => now);
    // Maintenance runs every 10 s: it failed once, early in the outage.
    outage.failed('maintenance', new Error('Connection terminated unexpectedly'));
    for (let i = 0; i < 12; i++) {
      now += 250;
      outage.failed('claiming due messages', new Error('Connection terminated unexpectedly'));
    }
    now += 250;
    outage.succeeded('claiming due messages');
    await flushed();
    assert.equal(lines.filter((l) => BACK.test(l.msg)).length, 0, 'maintenance failed 3.25 s ago');
    now += 2_000;
    outage.succeeded('claiming due messages');
    await flushed();
    const back = lines.filter((l) => BACK.test(l.msg));
    assert.equal(back.length, 1, 'maintenance has been quiet for 5 s and claims work');
    assert.equal(back[0]?.downMs, 3_250, 'from the first failure to the first success');
  });
});

/** The JSON log lines a process printed after `from` characters of its output. */
function logLines(output: string, from: number): LogLine[] {
  return output
    .slice(from)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

function summary(lines: LogLine[]) {
  const loud = lines.filter((l) => l.level >= 40);
  return {
    down: loud.filter((l) => DOWN.test(l.msg)).length,
    back: loud.filter((l) => BACK.test(l.msg)).length,
    other: loud.filter((l) => !DOWN.test(l.msg) && !BACK.test(l.msg)).map((l) => l.msg),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A worker and an API process at log level `warn`; `outage()` takes the database away for a
 * while, as clients keep calling the API. Then both logs must show the outage as one "down" and
 * one "back" line, plus at most a few others.
 */
async function outageScenario(
  t: TestContext,
  databaseUrl: string,
  outage: () => Promise<void>,
): Promise<void> {
  const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: databaseUrl });
  assert.equal(migrated.code, 0, migrated.output);
  const env = {
    TEGAMI_DATABASE_URL: databaseUrl,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_PROVIDER: 'test',
    TEGAMI_LOG_LEVEL: 'warn',
  };
  const group = new ProcessGroup();
  try {
    const worker = await group.start('worker', ['worker'], env);
    const api = await group.start('api', ['api'], env);
    const apiUrl = await api.ready;
    const first = await request(apiUrl, 'POST', '/v1/messages', message());
    assert.equal(first.status, 202);
    await waitFor(
      async () =>
        (await queryDatabase<{ status: string }>(databaseUrl, 'select status from messages'))[0]
          ?.status === 'sent',
      'mail to flow before the outage',
      30_000,
    );
    const from = new Map<ClusterProcess, number>([
      [worker, worker.output().length],
      [api, api.output().length],
    ]);

    // Clients keep calling while the database is away: every request fails.
    let calling = true;
    const statuses = new Map<number, number>();
    const client = (async () => {
      while (calling) {
        for (const [method, path, body] of [
          ['POST', '/v1/messages', message()],
          ['GET', '/v1/messages?limit=1', undefined],
        ] as const) {
          const r = await request(apiUrl, method, path, body).catch(() => null);
          if (r) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
        await sleep(100);
      }
    })();
    const started = performance.now();
    await outage();
    const downMs = performance.now() - started;
    calling = false;
    await client;

    // Traffic after the outage, until both processes say they work again.
    await waitFor(
      async () => {
        group.assertRunning();
        await request(apiUrl, 'POST', '/v1/messages', message()).catch(() => null);
        return (
          summary(logLines(worker.output(), from.get(worker) ?? 0)).back > 0 &&
          summary(logLines(api.output(), from.get(api) ?? 0)).back > 0
        );
      },
      'both processes to log that the database works again',
      60_000,
      500,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${group.outputs(30)}`);
    });
    await sleep(1_000);

    const workerLog = summary(logLines(worker.output(), from.get(worker) ?? 0));
    const apiLog = summary(logLines(api.output(), from.get(api) ?? 0));
    t.diagnostic(
      `database away for ${(downMs / 1000).toFixed(1)} s; API answers meanwhile: ` +
        `${JSON.stringify(Object.fromEntries(statuses))}; worker log: ${JSON.stringify(workerLog)}; ` +
        `API log: ${JSON.stringify(apiLog)}`,
    );
    assert.ok((statuses.get(503) ?? 0) > 0, 'requests failed during the outage (with a 503)');
    for (const [name, log] of [
      ['worker', workerLog],
      ['api', apiLog],
    ] as const) {
      assert.equal(log.down, 1, `${name}: one "down" line\n${group.outputs(30)}`);
      assert.equal(log.back, 1, `${name}: one "back" line\n${group.outputs(30)}`);
      assert.ok(log.other.length <= 3, `${name}: at most a few other lines: ${log.other}`);
    }
    const codes = await group.stopAll();
    assert.deepEqual([...codes.values()], [0, 0], group.outputs());
  } finally {
    await group.killAll();
  }
}

describe('a database outage under running processes', () => {
  test('PostgreSQL stopped for 5 s: one "down" and one "back" line per process', {
    timeout: 180_000,
    skip:
      (TEST_ENGINE !== 'postgres' && 'PostgreSQL pass only') ||
      (!findPostgresBin() && 'needs PostgreSQL server programs (initdb, postgres)'),
  }, async (t) => {
    // A server of its own: this test stops it.
    const server = await startThrowawayPostgres();
    try {
      await outageScenario(t, `${server.url}?schema=outage_log`, () => server.restart(5_000));
    } finally {
      await server.stop();
    }
  });

  test('SQLite locked by another process for 12 s: one "down" and one "back" line per process', {
    timeout: 180_000,
    skip: TEST_ENGINE !== 'sqlite' && 'SQLite pass only',
  }, async (t) => {
    const db = tempDatabase();
    try {
      await outageScenario(t, db.url, async () => {
        // Another process holding the write lock (a long maintenance job, a stuck backup):
        // every write waits out the 5 s busy timeout and fails.
        const holder = new SqliteDatabase(db.url.slice('sqlite:'.length));
        try {
          holder.exec('begin exclusive');
          await sleep(12_000);
          holder.exec('rollback');
        } finally {
          holder.close();
        }
      });
    } finally {
      await db.cleanup();
    }
  });
});
