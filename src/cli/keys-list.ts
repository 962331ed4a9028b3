import { shownKeyPrefix } from '../domain/api-keys.ts';
import { isIdOf } from '../domain/ids.ts';
import type { ApiKeyStore } from '../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../store/index.ts';
import { LIST_MOST, LIST_PAGE, listPageLimit } from './common.ts';
import { unitNamesOfKeys } from './key-audit.ts';

/** `keys list`'s options as parsed: --limit N and --before ID, each given or not. */
export interface KeysListOptions {
  limit: string | undefined;
  before: string | undefined;
}

/** What is wrong with `keys list`'s options, or null; checked before the database is opened. */
export function keysListProblem(options: KeysListOptions): string | null {
  if (options.limit !== undefined && Number.isNaN(listPageLimit(options.limit))) {
    return `--limit must be a whole number from 1 to ${LIST_MOST}`;
  }
  if (options.before !== undefined && !isIdOf('key', options.before)) {
    return "--before must be a key's id (key_..., the first column of tegami keys list)";
  }
  return null;
}

/**
 * `keys list`: one page of keys, revoked ones too, newest first, those made before the key
 * `before` (none: the newest), read with the console's API keys page's query (keyset by id), so
 * both show the same pages. Each key's line goes to standard output as it always has, so a script
 * reading them reads a page the same way; the way to the older keys goes to standard error, so it
 * is never taken for a key. Returns the exit code.
 */
export async function printKeyPage(
  database: DatabaseHandle,
  store: ApiKeyStore,
  options: KeysListOptions,
): Promise<number> {
  const limit = listPageLimit(options.limit);
  const { before } = options;
  // Keys are never deleted, only revoked, so an id naming none is a typo: read on from it, the
  // page would be some other slice of the keys, or empty, which reads as the end of the list.
  if (before !== undefined && !(await store.findById(before))) {
    console.error(`tegami keys: no key has the id ${before} (see tegami keys list)`);
    return 2;
  }
  // One more than a page: whether older keys remain.
  const found = await store.listPage({
    limit: limit + 1,
    ...(before !== undefined ? { beforeId: before } : {}),
  });
  const keys = found.slice(0, limit);
  // The names of the units of this page's keys only.
  const units = await unitNamesOfKeys(database, keys);
  for (const k of keys) {
    const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
    const scope = `${units.get(k.unitId) ?? k.unitId}${k.admin ? ' (admin)' : ''}${k.defaultPriority ? ` priority ${k.defaultPriority}` : ''}`;
    console.log(
      `${k.id}\t${shownKeyPrefix(k.prefix)}…\t${state}\t${new Date(k.createdAt).toISOString()}\t${scope}\t${k.name}`,
    );
  }
  const last = found.length > limit ? keys[keys.length - 1] : undefined;
  if (last) {
    const sameLimit = limit === LIST_PAGE ? '' : ` --limit ${limit}`;
    console.error(`Older keys: tegami keys list --before ${last.id}${sameLimit}`);
  }
  return 0;
}
