// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BULK_SHARE,
  BulkAllowance,
  resolvePriority,
  UnitDefaultPriorities,
} from '../src/domain/priority.ts';

describe('bulk allowance', () => {
  test('claims of 64 slots reserve a tenth for bulk mail', () => {
    const allowance = new BulkAllowance();
    let reserved = 0;
    for (let i = 0; i < 100; i++) {
      const slots = allowance.reserve(64);
      allowance.spend(slots, slots);
      reserved += slots;
    }
    // 100 claims × 64 slots × 10 %, whole slots only.
    assert.ok(Math.abs(reserved - 6400 * BULK_SHARE) <= 1, `reserved ${reserved}`);
  });

  test('claims of one slot give bulk mail every tenth one', () => {
    const allowance = new BulkAllowance();
    const picks: number[] = [];
    for (let i = 0; i < 30; i++) {
      const slots = allowance.reserve(1);
      if (slots > 0) picks.push(i);
      allowance.spend(slots, slots);
    }
    assert.deepEqual(picks, [9, 19, 29]);
  });

  test('unused reservations are not saved up into a burst', () => {
    const allowance = new BulkAllowance();
    for (let i = 0; i < 1000; i++) allowance.reserve(10); // no bulk mail due: nothing spent
    assert.ok(allowance.reserve(10) <= 10);
    assert.equal(new BulkAllowance().reserve(10), 1);
  });
});

describe('priority defaults', () => {
  test("the message's own, else the key's, else the unit's, else normal", () => {
    assert.equal(resolvePriority('high', 'bulk', 'bulk'), 'high');
    assert.equal(resolvePriority(undefined, 'bulk', 'high'), 'bulk');
    assert.equal(resolvePriority(undefined, null, 'high'), 'high');
    assert.equal(resolvePriority(undefined, null, null), 'normal');
  });

  test("a unit's default is read once per 5 s, and again at once after forget()", async () => {
    let reads = 0;
    let now = 0;
    const defaults = new UnitDefaultPriorities({
      priorityOf: async () => {
        reads++;
        return 'bulk';
      },
      clock: () => now,
    });
    assert.equal(await defaults.of('unit_a'), 'bulk');
    now = 4_999;
    assert.equal(await defaults.of('unit_a'), 'bulk');
    assert.equal(reads, 1);
    now = 5_000;
    await defaults.of('unit_a');
    assert.equal(reads, 2);
    defaults.forget('unit_a');
    await defaults.of('unit_a');
    assert.equal(reads, 3);
  });
});
