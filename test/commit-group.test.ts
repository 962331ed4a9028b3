// tegami-test: no-database
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CommitGroup } from '../src/store/write/commit-group.ts';

/**
 * Group commit's fallback: when a group's transaction fails, one bad item must not fail the
 * others, so each is written alone to find it; but when the database itself failed (away, or a
 * lock or statement timeout), each alone fails the same way, one wait after another. A
 * PostgreSQL drill with lock_timeout=2s saw 20 concurrent submissions answered 503 after 4, 6,
 * 8 … 14 s instead of after 2 s.
 */
describe('group commit when a group fails', () => {
  test('a bad item is found by writing each alone; the others are written', async () => {
    const writes: string[][] = [];
    const group = new CommitGroup<string, string>(async (items) => {
      writes.push(items);
      if (items.includes('bad')) {
        throw Object.assign(new Error('duplicate key value'), { code: '23505' });
      }
      return items.map((i) => `ok ${i}`);
    });
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((i) => group.add(i)));
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(writes, [['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  test('a failure of the database fails the whole group at once, without a write per item', async () => {
    const writes: string[][] = [];
    const group = new CommitGroup<string, string>(async (items) => {
      writes.push(items);
      throw Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' });
    });
    const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((i) => group.add(i)));
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'rejected', 'rejected'],
    );
    assert.deepEqual(writes, [['a', 'b', 'c', 'd']], 'one write, not one more per item');
  });

  test('a statement timeout or a deadlock may be one item’s doing: each is written alone', async () => {
    for (const code of ['57014', '40P01']) {
      const group = new CommitGroup<string, string>(async (items) => {
        if (items.includes('huge')) throw Object.assign(new Error('canceling statement'), { code });
        return items.map((i) => `ok ${i}`);
      });
      const results = await Promise.allSettled(['a', 'huge', 'c'].map((i) => group.add(i)));
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
        code,
      );
    }
  });
});
