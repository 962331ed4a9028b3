import { monotonicFactory } from 'ulidx';

/**
 * Ids are prefixed ULIDs: they sort by creation time (newest-first listing and cursors need no
 * separate index) and say what they name (`msg_…`, `key_…`).
 */
const ulid = monotonicFactory();

export function newId(prefix: 'msg' | 'key' | 'sbx'): string {
  return `${prefix}_${ulid()}`;
}
