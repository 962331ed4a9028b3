import { randomBytes } from 'node:crypto';
import { encodeTime, monotonicFactory } from 'ulidx';

/**
 * Ids are prefixed ULIDs: they sort by creation time (newest-first listing and cursors need no
 * separate index) and say what they name (`msg_…`, `key_…`).
 */
const ulid = monotonicFactory(pooledRandom());

/**
 * ulidx asks the PRNG once per character, and its default calls crypto.getRandomValues each time
 * (3% of the API's CPU under load, profiled). Same cryptographic source, read from a pooled buffer.
 */
function pooledRandom(): () => number {
  let pool = randomBytes(4096);
  let offset = 0;
  return () => {
    if (offset + 4 > pool.length) {
      pool = randomBytes(4096);
      offset = 0;
    }
    const value = pool.readUInt32BE(offset) / 2 ** 32;
    offset += 4;
    return value;
  };
}

export type IdPrefix =
  | 'msg'
  | 'key'
  | 'sbx'
  | 'whk'
  | 'whd'
  | 'unit'
  | 'rec'
  | 'aud'
  | 'alt'
  | 'ntf'
  | 'usr';

/** A message's id: `msg_` and a 26-character ULID. */
export const MESSAGE_ID = /^msg_[0-9A-Z]{26}$/;

/** What a message id looks like, in the words every refusal of a malformed one uses. */
export const MESSAGE_ID_IN_WORDS = 'a message id, like msg_01JB8ZQ4W5X3C2V1N0M9K8J7H6';

const ULID_TEXT = /^[0-9A-Z]{26}$/;

/**
 * Whether `value` has the shape of an id of this kind (`prefix_` and a 26-character ULID). Only
 * the shape: a cursor or link naming a row deleted since (retention) still passes, and finding the
 * row, where that matters, is the caller's look-up.
 */
export function isIdOf(prefix: IdPrefix, value: string): boolean {
  return (
    value.length === prefix.length + 27 &&
    value.startsWith(`${prefix}_`) &&
    ULID_TEXT.test(value.slice(prefix.length + 1))
  );
}

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}

/** The smallest id of this kind created at `ms`: every id made earlier sorts below it. */
export function firstIdAt(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(ms, 10)}${'0'.repeat(16)}`;
}
