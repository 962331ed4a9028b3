import { DEFAULT_UNIT_NAME } from '../domain/operations/units.ts';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from './engine/database.ts';

/** API keys, stored as SHA-256 hashes only. */
export class SqlApiKeyStore implements ApiKeyStore {
  /**
   * Active keys by hash, valid while no other process has written to the database: checking a
   * key on every request was ~5% of the API's CPU under load. A revocation by `tegami keys
   * revoke` (another process) changes the counter and empties the cache, so it takes effect on
   * the next request.
   */
  private readonly active = new Map<string, ApiKeyRecord>();
  private activeVersion: number | undefined;

  constructor(private readonly handle: DatabaseHandle) {}

  async insert(record: NewApiKey, keyHash: string): Promise<ApiKeyRecord> {
    const unitId =
      record.unitId ??
      (
        await this.handle.db
          .selectFrom('units')
          .select('id')
          .where('name', '=', DEFAULT_UNIT_NAME)
          .executeTakeFirstOrThrow()
      ).id;
    await this.handle.db
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
      })
      .execute();
    return { ...record, unitId, admin: record.admin === true };
  }

  /** Makes a key an admin key (the bootstrap key always is one). */
  async makeAdmin(id: string): Promise<void> {
    this.active.clear();
    await this.handle.db.updateTable('api_keys').set({ admin: 1 }).where('id', '=', id).execute();
  }

  async findById(id: string): Promise<ApiKeyRecord | null> {
    const row = await this.handle.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /** The active key with this hash, if any. */
  async findActiveByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const version = this.handle.externalChangeCounter();
    if (version === undefined || version !== this.activeVersion) {
      this.active.clear();
      this.activeVersion = version;
    } else {
      const cached = this.active.get(keyHash);
      if (cached) return cached;
    }
    const record = await this.queryActiveByHash(keyHash);
    // Only known keys are cached, so random keys cannot grow the cache.
    if (record && version !== undefined && this.active.size < 10_000)
      this.active.set(keyHash, record);
    return record;
  }

  private async queryActiveByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const row = await this.handle.db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const row = await this.handle.db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async reactivate(id: string): Promise<void> {
    this.active.clear();
    await this.handle.db
      .updateTable('api_keys')
      .set({ revoked_at: null })
      .where('id', '=', id)
      .execute();
  }

  async setPrefix(id: string, prefix: string): Promise<void> {
    this.active.clear();
    await this.handle.db
      .updateTable('api_keys')
      .set({ key_prefix: prefix })
      .where('id', '=', id)
      .execute();
  }

  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.handle.db.selectFrom('api_keys').selectAll().orderBy('id').execute();
    return rows.map(toRecord);
  }

  async count(): Promise<number> {
    const row = await this.handle.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Returns false when no such key exists. */
  async revoke(id: string, now: number): Promise<boolean> {
    this.active.clear();
    const result = await this.handle.db
      .updateTable('api_keys')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) > 0) {
      // API processes on PostgreSQL drop their key caches when they hear this (see postgres.ts).
      await this.handle.announce('tegami_changes');
      return true;
    }
    const exists = await this.handle.db
      .selectFrom('api_keys')
      .select('id')
      .where('id', '=', id)
      .executeTakeFirst();
    return exists !== undefined;
  }
}

function toRecord(row: {
  id: string;
  name: string;
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
  unit_id: string;
  admin: number;
}): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    unitId: row.unit_id,
    admin: Number(row.admin) === 1,
  };
}
