import type { Kysely } from 'kysely';
import { DEFAULT_UNIT_NAME } from '../../domain/operations/units.ts';
import type { ApiKeyRecord, KeyCreatedEvent, NewApiKey } from '../../domain/ports/api-key-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';

/** Stores a new key and the event `audit` makes of it, if any, in one transaction. */
export function insertApiKeyAudited(
  handle: DatabaseHandle,
  record: NewApiKey,
  keyHash: string,
  audit: KeyCreatedEvent | null,
): Promise<ApiKeyRecord> {
  return handle.writeTransaction(async (trx) => {
    const stored = await insertApiKey(trx, record, keyHash);
    if (audit) await insertAuditEvent(trx, audit(stored));
    return stored;
  });
}

/**
 * Stores a new key (its hash only), in the `default` unit unless the record names one; in the
 * caller's transaction when it has one.
 */
export async function insertApiKey(
  db: Kysely<Database>,
  record: NewApiKey,
  keyHash: string,
): Promise<ApiKeyRecord> {
  const unitId =
    record.unitId ??
    (
      await db
        .selectFrom('units')
        .select('id')
        .where('name', '=', DEFAULT_UNIT_NAME)
        .executeTakeFirstOrThrow()
    ).id;
  await db
    .insertInto('api_keys')
    .values({
      id: record.id,
      name: record.name,
      key_prefix: record.prefix,
      key_hash: keyHash,
      created_at: record.createdAt,
      revoked_at: record.revokedAt,
      unit_id: unitId,
      admin: record.admin ? 1 : 0,
      default_priority: record.defaultPriority ?? null,
    })
    .execute();
  return {
    ...record,
    unitId,
    admin: record.admin === true,
    defaultPriority: record.defaultPriority ?? null,
  };
}
