import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RATE_LIMIT_WINDOW_MS } from '../src/domain/unit-rate-limit.ts';
import { SqlUnitRateWindows } from '../src/store/index.ts';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  request,
  spawnTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';

/**
 * A unit's sending limit behind several API processes (PostgreSQL): they count in one window, so
 * the unit gets its limit, not the limit times the number of processes. SQLite's one API process
 * counts in memory (test/unit-limits.test.ts).
 */
const skip = TEST_ENGINE === 'postgres' ? false : 'PostgreSQL only: SQLite counts in memory';

/** Waits out the last seconds of a clock minute, so a test's counts stay in one window. */
async function awayFromTheMinutesEnd(): Promise<void> {
  const left = RATE_LIMIT_WINDOW_MS - (Date.now() % RATE_LIMIT_WINDOW_MS);
  if (left < 15_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

/**
 * Two API processes on one database (this test's service and a real `tegami api` beside it), a
 * unit `hotel` with the given limit and its key, in the same clock minute: what each test
 * below does across processes. Both are stopped afterwards.
 */
async function withTwoApiProcesses(
  limitPerMin: number,
  work: (
    tegami: TestService,
    otherUrl: string,
    hotel: { id: string; key: string },
  ) => Promise<void>,
): Promise<void> {
  const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
  const other = spawnTegami(['api'], {
    TEGAMI_DATABASE_URL: tegami.databaseUrl,
    TEGAMI_HTTP_PORT: '0',
  });
  try {
    const otherUrl = await other.ready;
    const hotel = await createUnitWithKey(tegami, 'hotel');
    const set = await tegami.request('PUT', '/v1/units/hotel', { rate_limit_per_min: limitPerMin });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    await awayFromTheMinutesEnd();
    await work(tegami, otherUrl, hotel);
  } finally {
    other.child.kill('SIGTERM');
    await other.exited;
    await tegami.stop();
  }
}

describe(`a unit's sending limit is shared by API processes (${TEST_ENGINE})`, { skip }, () => {
  test('two API processes on one database: the unit gets its limit once, not twice', async () => {
    await withTwoApiProcesses(10, async (tegami, otherUrl, hotel) => {
      const answers: { via: string; status: number; remaining: string | null }[] = [];
      for (let i = 0; i < 6; i++) {
        for (const [via, url] of [
          ['first', tegami.url],
          ['second', otherUrl],
        ] as const) {
          const r = await request(url, 'POST', '/v1/messages', message(), {}, hotel.key);
          answers.push({
            via,
            status: r.status,
            remaining: r.headers.get('x-ratelimit-remaining'),
          });
        }
      }
      const accepted = answers.filter((a) => a.status === 202);
      const refused = answers.filter((a) => a.status === 429);
      assert.equal(accepted.length, 10, JSON.stringify(answers));
      assert.equal(refused.length, 2, JSON.stringify(answers));
      // The last two, whichever process they reached; each process counted the other's mail.
      assert.deepEqual(
        answers.slice(10).map((a) => a.status),
        [429, 429],
      );
      assert.deepEqual(
        accepted.map((a) => a.remaining),
        ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'],
      );
      const stored = await queryDatabase<{ n: number | string }>(
        tegami.databaseUrl,
        `SELECT count(*) AS n FROM messages WHERE unit_id = '${hotel.id}'`,
      );
      assert.equal(Number(stored[0]?.n), 10);
    });
  });

  test('reservations made at once never pass the limit; given back, they free their place', async () => {
    const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      // Unlogged: counting writes no WAL (and waits for no fsync).
      const persistence = await queryDatabase<{ relpersistence: string }>(
        tegami.databaseUrl,
        "SELECT relpersistence FROM pg_class WHERE relname = 'unit_rate_windows' AND relnamespace = to_regnamespace(current_schema())",
      );
      assert.deepEqual(
        persistence.map((r) => r.relpersistence),
        ['u'],
      );
      const windows = new SqlUnitRateWindows(tegami.service.database);
      const start = Math.floor(Date.now() / RATE_LIMIT_WINDOW_MS) * RATE_LIMIT_WINDOW_MS;
      // 40 at once, on as many connections as the pool has: each gets its own step.
      const steps = await Promise.all(
        Array.from({ length: 40 }, () => windows.reserve('unit_x', start, 1, 25)),
      );
      const added = steps.filter((s) => s.after - s.before === 1);
      assert.equal(added.length, 25);
      assert.deepEqual(
        added.map((s) => s.after).sort((a, b) => a - b),
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
      for (const step of steps.filter((s) => s.after === s.before)) assert.equal(step.after, 25);
      // More than is left: nothing (all or nothing). A fresh window: nothing over the limit.
      assert.deepEqual(await windows.reserve('unit_y', start, 26, 25), { before: 0, after: 0 });
      assert.deepEqual(await windows.reserve('unit_y', start, 25, 25), { before: 0, after: 25 });
      await windows.giveBack('unit_y', start, 5);
      assert.deepEqual(await windows.reserve('unit_y', start, 7, 25), { before: 20, after: 20 });
      assert.deepEqual(await windows.reserve('unit_y', start, 5, 25), { before: 20, after: 25 });
      // Given back more than was counted (a window emptied meanwhile): never below zero.
      await windows.giveBack('unit_y', start, 100);
      assert.deepEqual(await windows.reserve('unit_y', start, 1, 25), { before: 0, after: 1 });
      // A limit lowered below the count: nothing more, and the count is not lowered.
      assert.deepEqual(await windows.reserve('unit_x', start, 1, 10), { before: 25, after: 25 });

      await windows.reserve('unit_x', start - RATE_LIMIT_WINDOW_MS, 1, 25);
      await windows.forgetBefore(start);
      const left = await queryDatabase<{ unit_id: string; window_start: number | string }>(
        tegami.databaseUrl,
        'SELECT unit_id, window_start FROM unit_rate_windows ORDER BY unit_id',
      );
      assert.deepEqual(
        left.map((r) => [r.unit_id, Number(r.window_start)]),
        [
          ['unit_x', start],
          ['unit_y', start],
        ],
      );
    } finally {
      await tegami.stop();
    }
  });

  test('32 clients of one unit at once on two processes: exactly the limit is accepted', async () => {
    await withTwoApiProcesses(100, async (tegami, otherUrl, hotel) => {
      const statuses: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async (_, client) => {
          const url = client % 2 === 0 ? tegami.url : otherUrl;
          while (next < 160) {
            next++;
            const r = await request(url, 'POST', '/v1/messages', message(), {}, hotel.key);
            statuses.push(r.status);
          }
        }),
      );
      assert.equal(statuses.filter((s) => s === 202).length, 100, JSON.stringify(statuses));
      assert.equal(statuses.filter((s) => s === 429).length, statuses.length - 100);
      const stored = await queryDatabase<{ n: number | string }>(
        tegami.databaseUrl,
        `SELECT count(*) AS n FROM messages WHERE unit_id = '${hotel.id}'`,
      );
      assert.equal(Number(stored[0]?.n), 100);
    });
  });

  test('a batch too large for what is left takes no place from the small requests of the cluster', async () => {
    await withTwoApiProcesses(50, async (tegami, otherUrl, hotel) => {
      const batch = (n: number) => ({ messages: Array.from({ length: n }, () => message()) });
      const fill = await request(
        tegami.url,
        'POST',
        '/v1/messages/batch',
        batch(40),
        {},
        hotel.key,
      );
      assert.equal(fill.status, 202, JSON.stringify(fill.body));
      // 10 left: batches of 20 never fit, and keep coming at one process...
      let stop = false;
      const refusedBatches: number[] = [];
      const hammering = Array.from({ length: 8 }, async () => {
        while (!stop) {
          const r = await request(otherUrl, 'POST', '/v1/messages/batch', batch(20), {}, hotel.key);
          refusedBatches.push(r.status);
        }
      });
      // ...while single messages, 5 of the 10 left, go to the other one after another.
      const singles: { status: number; remaining: string | null }[] = [];
      try {
        await new Promise((resolve) => setTimeout(resolve, 200));
        for (let i = 0; i < 5; i++) {
          const r = await request(tegami.url, 'POST', '/v1/messages', message(), {}, hotel.key);
          singles.push({ status: r.status, remaining: r.headers.get('x-ratelimit-remaining') });
        }
      } finally {
        stop = true;
        await Promise.all(hammering);
      }
      assert.ok(refusedBatches.length > 0 && refusedBatches.every((s) => s === 429));
      assert.deepEqual(
        singles,
        ['9', '8', '7', '6', '5'].map((remaining) => ({ status: 202, remaining })),
      );
    });
  });

  test('windows of earlier minutes are forgotten as the API counts in a new one', async () => {
    const tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_UNIT_RATE_LIMIT_PER_MIN: '100',
    });
    try {
      const old = Math.floor(Date.now() / RATE_LIMIT_WINDOW_MS) * RATE_LIMIT_WINDOW_MS;
      await new SqlUnitRateWindows(tegami.service.database).reserve('gone', old - 600_000, 1, 5);
      const hotel = await createUnitWithKey(tegami, 'hotel');
      const r = await request(tegami.url, 'POST', '/v1/messages', message(), {}, hotel.key);
      assert.equal(r.status, 202);
      await waitFor(async () => {
        const rows = await queryDatabase<{ unit_id: string }>(
          tegami.databaseUrl,
          'SELECT unit_id FROM unit_rate_windows',
        );
        return rows.length === 1 && rows[0]?.unit_id === hotel.id;
      }, "the old window forgotten and the unit's counted");
    } finally {
      await tegami.stop();
    }
  });
});
