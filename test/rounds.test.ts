// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startRounds } from '../src/ops/rounds.ts';

/**
 * The timer both maintenance (ops/cluster-jobs.ts) and the alert rules (ops/alerts/evaluator.ts)
 * run their rounds on: never two at once, and after a long round one more, not a burst.
 */
describe('rounds on a timer', () => {
  const INTERVAL_MS = 100;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test('a round longer than 6 intervals is followed by rounds an interval apart, none overlapping', async () => {
    const rounds: { began: number; ended: number }[] = [];
    let running = 0;
    let overlapped = false;
    const timer = startRounds(INTERVAL_MS, async () => {
      running += 1;
      if (running > 1) overlapped = true;
      const began = performance.now();
      await sleep(rounds.length === 0 ? 7 * INTERVAL_MS : 1);
      rounds.push({ began, ended: performance.now() });
      running -= 1;
    });
    try {
      await sleep(7 * INTERVAL_MS + 5 * INTERVAL_MS);
    } finally {
      timer.cancel();
    }
    assert.equal(overlapped, false, 'no round began while another ran');
    const first = rounds[0];
    assert.ok(first, 'the first round began at once');
    const after = rounds.slice(1);
    assert.ok(after.length >= 3, `rounds went on after the long one (${after.length})`);
    // One at once after the long round, then one an interval after the one before (a little
    // early at most: timers count whole milliseconds), not 7 queued ticks back to back.
    assert.ok((after[0] as { began: number }).began >= first.ended - 1);
    for (let i = 1; i < after.length; i++) {
      const gap = (after[i] as { began: number }).began - (after[i - 1] as { began: number }).began;
      assert.ok(gap >= INTERVAL_MS - 5, `${gap.toFixed(1)} ms between rounds ${i} and ${i + 1}`);
    }
  });

  test('no round begins after cancel; the one running ends', async () => {
    let begun = 0;
    let ended = 0;
    const timer = startRounds(INTERVAL_MS, async () => {
      begun += 1;
      await sleep(2 * INTERVAL_MS);
      ended += 1;
    });
    await sleep(INTERVAL_MS / 2);
    timer.cancel();
    await sleep(4 * INTERVAL_MS);
    assert.equal(begun, 1, 'only the first round began');
    assert.equal(ended, 1, 'and it ran to its end');
  });
});
