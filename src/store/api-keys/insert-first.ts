import type { ApiKeyRecord, KeyCreatedEvent, NewApiKey } from '../../domain/ports/api-key-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { insertApiKey } from './insert.ts';

/** What the lock that lets one start at a time look for keys and make the first one is about. */
export const FIRST_KEY_LOCK = 'tegami: the first API key';

/**
 * Stores the key only if there is no key at all (revoked ones count), with its audit event;
 * null when there is one. Several processes starting at once on an empty database each find no
 * key: the look and the insert are one transaction that no other start can come between, so one
 * of them makes it.
 *
 * SQLite: the write transaction holds the database's write lock from BEGIN IMMEDIATE, so the
 * others wait, then find the key. PostgreSQL: a transaction-scoped advisory lock, taken before
 * looking; the others wait for it until the first commits, and their look then sees its key, as
 * it takes a fresh snapshot: Tegami's write transactions are READ COMMITTED whatever the server's
 * default (engine/postgres.ts; under REPEATABLE READ the snapshot would date from the lock's
 * request, before the key, and every waiting start would make one). A conditional insert alone
 * (`insert … where not exists`) would not do: both would run it against snapshots without the
 * key, and nothing unique in `api_keys` would make the second one fail.
 */
export function insertFirstApiKey(
  handle: DatabaseHandle,
  record: NewApiKey,
  keyHash: string,
  audit: KeyCreatedEvent,
): Promise<ApiKeyRecord | null> {
  return handle.writeTransaction(async (trx) => {
    await handle.dialect.advisoryXactLock(trx, FIRST_KEY_LOCK);
    const existing = await trx.selectFrom('api_keys').select('id').limit(1).executeTakeFirst();
    if (existing) return null;
    const stored = await insertApiKey(trx, record, keyHash);
    await insertAuditEvent(trx, audit(stored));
    return stored;
  });
}
