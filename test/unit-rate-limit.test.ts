// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FixedWindowLimiter,
  type SharedWindowCounts,
  UnitRateLimits,
} from '../src/domain/unit-rate-limit.ts';

/** The per-unit sending limit's counting, with a clock the test moves. */
describe('unit sending limit (domain)', () => {
  // 10:00:30 on some day: the window is 10:00:00 to 10:01:00.
  const minute = Date.UTC(2026, 0, 5, 10, 0, 0);

  test('counts messages per unit in clock-minute windows and resets at the minute', () => {
    let now = minute + 30_000;
    const limiter = new FixedWindowLimiter(() => now);
    const first = limiter.take('unit_a', 3, 5);
    assert.deepEqual(
      { ...first },
      { allowed: true, limit: 5, remaining: 2, resetAt: minute + 60_000, windowStart: minute },
    );
    assert.equal(limiter.take('unit_a', 2, 5).remaining, 0);
    const over = limiter.take('unit_a', 1, 5);
    assert.equal(over.allowed, false);
    assert.equal(over.remaining, 0);
    assert.equal(over.resetAt, minute + 60_000);
    assert.equal(limiter.take('unit_b', 5, 5).allowed, true, 'another unit counts apart');

    now = minute + 59_999;
    assert.equal(limiter.take('unit_a', 1, 5).allowed, false, 'the same window to its last ms');
    now = minute + 60_000;
    const next = limiter.take('unit_a', 5, 5);
    assert.equal(next.allowed, true, 'a new minute, a new window');
    assert.equal(next.resetAt, minute + 120_000);
  });

  test('a request that would go over is refused whole and counts nothing', () => {
    const limiter = new FixedWindowLimiter(() => minute + 1_000);
    assert.equal(limiter.take('u', 4, 5).allowed, true);
    const batch = limiter.take('u', 3, 5);
    assert.equal(batch.allowed, false);
    assert.equal(batch.remaining, 1, 'what is left is still left');
    assert.equal(limiter.take('u', 1, 5).allowed, true, 'the refused three took nothing');
    assert.equal(limiter.take('u', 1, 5).allowed, false);
  });

  test('messages given back (not stored) free their place, only in their own window', () => {
    let now = minute + 10_000;
    const limiter = new FixedWindowLimiter(() => now);
    const taken = limiter.take('u', 5, 5);
    limiter.giveBack('u', 5, taken.windowStart);
    assert.equal(limiter.take('u', 5, 5).allowed, true);
    now = minute + 70_000;
    const fresh = limiter.take('u', 5, 5);
    limiter.giveBack('u', 5, taken.windowStart);
    assert.equal(limiter.take('u', 1, 5).allowed, false, 'an old window gives nothing back');
    assert.equal(fresh.allowed, true);
  });

  test("a unit's own limit wins over the default; no limit at all counts nothing", async () => {
    const own = new Map<string, number>([['hotel', 2]]);
    const limits = new UnitRateLimits({
      limitOf: async (unitId) => own.get(unitId) ?? null,
      defaultPerMin: 3,
      clock: () => minute,
    });
    assert.equal((await limits.take('hotel', 2))?.limit, 2);
    assert.equal((await limits.take('hotel', 1))?.allowed, false);
    assert.equal((await limits.take('shop', 3))?.limit, 3);
    const unlimited = new UnitRateLimits({ limitOf: async () => null, defaultPerMin: null });
    assert.equal(await unlimited.take('shop', 1_000_000), null);
  });

  test("a unit's limit is read once per 5 s (or again after a change here), not per request", async () => {
    let reads = 0;
    let now = minute;
    let limit = 10;
    const limits = new UnitRateLimits({
      limitOf: async () => {
        reads++;
        return limit;
      },
      defaultPerMin: null,
      clock: () => now,
    });
    for (let i = 0; i < 5; i++) await limits.take('hotel', 1);
    assert.equal(reads, 1);
    limit = 3;
    now += 4_000;
    assert.equal((await limits.take('hotel', 1))?.limit, 10, 'still the cached limit');
    now += 1_000;
    assert.equal((await limits.take('hotel', 1))?.limit, 3, 'read again after 5 s');
    assert.equal(reads, 2);
    limit = 50;
    limits.forget('hotel');
    assert.equal((await limits.take('hotel', 1))?.limit, 50, 'read again after forget');
  });

  /** The shared store's stand-in: what the domain asks of it, on a map, one call at a time. */
  function sharedCounts() {
    const counts = new Map<string, number>();
    const calls: string[] = [];
    let reserves = 0;
    const shared: SharedWindowCounts = {
      async reserve(unitId, windowStart, wanted, limit) {
        reserves++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        const key = `${unitId}@${windowStart}`;
        const before = counts.get(key) ?? 0;
        const after = before + wanted <= limit ? before + wanted : before;
        counts.set(key, after);
        return { before, after };
      },
      async giveBack(unitId, windowStart, count) {
        const key = `${unitId}@${windowStart}`;
        counts.set(key, Math.max(0, (counts.get(key) ?? 0) - count));
        calls.push(`giveBack ${unitId} ${windowStart - minute} ${count}`);
      },
      async forgetBefore(windowStart) {
        calls.push(`forgetBefore ${windowStart - minute}`);
      },
    };
    return { shared, counts, calls, reserves: () => reserves };
  }

  test('with shared counts (PostgreSQL), the window is counted there, and ended windows forgotten once a minute', async () => {
    const { shared, calls } = sharedCounts();
    let now = minute + 30_000;
    const limits = new UnitRateLimits({
      limitOf: async () => 5,
      defaultPerMin: null,
      clock: () => now,
      shared,
    });
    const first = await limits.take('hotel', 3);
    assert.deepEqual(
      { ...first },
      { allowed: true, limit: 5, remaining: 2, resetAt: minute + 60_000, windowStart: minute },
    );
    const over = await limits.take('hotel', 3);
    assert.equal(over?.allowed, false);
    assert.equal(over?.remaining, 2, 'what the window still takes');
    limits.giveBack('hotel', 3, first);
    limits.giveBack('hotel', 3, over);
    now = minute + 61_000;
    assert.equal((await limits.take('hotel', 5))?.allowed, true, 'a new window');
    await limits.take('hotel', 1);
    assert.deepEqual(calls, [
      'forgetBefore -60000',
      // Nothing was reserved for the refused three: only the accepted are given back.
      'giveBack hotel 0 3',
      // The window before the last is forgotten once per new window, not per request.
      'forgetBefore 0',
    ]);
  });

  test('shared counts: requests that come while one is counted are counted together, each whole or not at all, in order', async () => {
    const { shared, counts, reserves } = sharedCounts();
    const limits = new UnitRateLimits({
      limitOf: async () => 10,
      defaultPerMin: null,
      clock: () => minute + 1_000,
      shared,
    });
    const wants = [1, 1, 4, 3, 2, 1, 1, 5, 1];
    const decisions = await Promise.all(wants.map((n) => limits.take('hotel', n)));
    // 1 + 1 + 4 + 3 fit (9); 2 does not; 1 does (10); the rest do not.
    assert.deepEqual(
      decisions.map((d) => d?.allowed),
      [true, true, true, true, false, true, false, false, false],
    );
    assert.deepEqual(
      decisions.filter((d) => d?.allowed).map((d) => d?.remaining),
      [9, 8, 4, 1, 0],
    );
    // The first alone; the rest together, which do not all fit; then those that do.
    assert.ok(reserves() <= 3, `${reserves()} statements for ${wants.length} requests`);
    assert.equal(counts.get(`hotel@${minute}`), 10, 'nothing was reserved for the refused');
  });
});
