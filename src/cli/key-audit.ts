import type { ApiKeyRecord } from '../domain/ports/api-key-store.ts';
import { type DatabaseHandle, SqlUnitStore } from '../store/index.ts';
import { CLI_LISTS } from './common.ts';

/**
 * What `tegami keys` needs of units, kept here so the keys command itself changes little: the
 * unit a new key goes into, and the names of the keys' units. (Each key created or revoked is
 * recorded by the key store, in the same transaction: createApiKey, revokeApiKey.)
 */

/** The unit id for `--unit NAME` (default: the `default` unit), or the line refusing it. */
export async function unitForNewKey(
  database: DatabaseHandle,
  name: string | undefined,
): Promise<{ unitId: string; name: string } | { error: string }> {
  const unitName = name ?? 'default';
  const unit = await new SqlUnitStore(database).findByName(unitName);
  if (!unit) {
    return { error: `tegami keys: no unit is named "${unitName}" (see ${CLI_LISTS.units})` };
  }
  return { unitId: unit.id, name: unit.name };
}

export async function unitNamesOfKeys(
  database: DatabaseHandle,
  keys: ApiKeyRecord[],
): Promise<Map<string, string>> {
  return new SqlUnitStore(database).namesOf(keys.map((k) => k.unitId));
}
