import { keyAuditFields } from '../domain/api-keys.ts';
import type { ApiKeyRecord } from '../domain/ports/api-key-store.ts';
import { type DatabaseHandle, SqlUnitStore } from '../store/index.ts';
import { CLI_LISTS, cliActor } from './common.ts';
import { createOperations } from './wire-operations.ts';

/**
 * What `tegami keys` needs of units and the audit log, kept here so the keys command itself
 * changes little: the unit a new key goes into, and a record of each key created or revoked.
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

export async function auditKey(
  database: DatabaseHandle,
  action: 'key.create' | 'key.revoke',
  key: ApiKeyRecord,
): Promise<void> {
  const { service } = createOperations(database, {
    unsentAfterMs: 0,
    unconfirmedAfterMs: 0,
    sendgridWebhook: { publicKey: null, insecure: false, maxAgeMs: 0 },
  });
  await service.record(cliActor(), action, keyAuditFields(action, key));
}
