// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstIdAt, isIdOf, newId } from '../src/domain/ids.ts';

describe('isIdOf: the shape of an id of one kind', () => {
  it('takes the ids Tegami makes, of their own kind only', () => {
    const key = newId('key');
    assert.equal(isIdOf('key', key), true);
    assert.equal(isIdOf('unit', newId('unit')), true);
    assert.equal(isIdOf('key', firstIdAt('key', Date.UTC(2026, 0, 1))), true);
    // `unit_` is longer than `key_`: a prefix of another kind never passes for this one.
    assert.equal(isIdOf('unit', key), false);
    assert.equal(isIdOf('msg', key), false);
  });

  it('refuses anything else', () => {
    const key = newId('key');
    for (const value of [
      '',
      'key_',
      key.slice(0, -1),
      `${key}0`,
      key.toLowerCase(),
      key.replace('key_', 'key-'),
      ` ${key}`,
      `${key}\n`,
      `key_${'0'.repeat(25)}!`,
    ]) {
      assert.equal(isIdOf('key', value), false, JSON.stringify(value));
    }
  });
});
