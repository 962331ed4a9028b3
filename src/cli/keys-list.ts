import { shownKeyPrefix } from '../domain/api-keys.ts';
import { isIdOf } from '../domain/ids.ts';
import type { ApiKeyStore } from '../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../store/index.ts';
import { LIST_MOST, listPageLimit, printCliPage } from './common.ts';
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
 * `keys list`: one page of keys, revoked ones too, newest first, read with the console's API
 * keys page's query (keyset by id), so both show the same pages. Each key's line is printed as it
 * always has been. Returns the exit code.
 */
export function printKeyPage(
  database: DatabaseHandle,
  store: ApiKeyStore,
  options: KeysListOptions,
): Promise<number> {
  const { before } = options;
  const limit = listPageLimit(options.limit);
  return printCliPage(
    { command: 'keys', one: 'key', source: store, limit, before },
    async (keys) => {
      // The names of the units of this page's keys only.
      const units = await unitNamesOfKeys(database, keys);
      for (const k of keys) {
        const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
        const scope = `${units.get(k.unitId) ?? k.unitId}${k.admin ? ' (admin)' : ''}${k.defaultPriority ? ` priority ${k.defaultPriority}` : ''}`;
        console.log(
          `${k.id}\t${shownKeyPrefix(k.prefix)}…\t${state}\t${new Date(k.createdAt).toISOString()}\t${scope}\t${k.name}`,
        );
      }
    },
  );
}
