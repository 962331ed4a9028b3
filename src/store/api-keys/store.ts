import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type {
  ApiKeyPage,
  ApiKeyRecord,
  ApiKeyStore,
  KeyCreatedEvent,
  NewApiKey,
} from '../../domain/ports/api-key-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { countApiKeys } from './count.ts';
import { findApiKey } from './find.ts';
import { insertApiKeyAudited } from './insert.ts';
import { insertFirstApiKey } from './insert-first.ts';
import { listApiKeyPage } from './list.ts';
import { revokeApiKey } from './revoke.ts';
import { makeApiKeyAdmin, reactivateApiKey, setApiKeyPrefix } from './update.ts';

/** API keys, stored as SHA-256 hashes only. This object owns the active-key cache. */
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

  insert(record: NewApiKey, keyHash: string, audit: KeyCreatedEvent | null): Promise<ApiKeyRecord> {
    return insertApiKeyAudited(this.handle, record, keyHash, audit);
  }

  /** Stores the key only if there is none at all; null when there is (see insert-first.ts). */
  insertIfNone(
    record: NewApiKey,
    keyHash: string,
    audit: KeyCreatedEvent,
  ): Promise<ApiKeyRecord | null> {
    return insertFirstApiKey(this.handle, record, keyHash, audit);
  }

  /** Makes a key an admin key (the bootstrap key always is one). */
  makeAdmin(id: string): Promise<void> {
    this.active.clear();
    return makeApiKeyAdmin(this.handle, id);
  }

  findById(id: string): Promise<ApiKeyRecord | null> {
    return findApiKey(this.handle, { id });
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
    const record = await findApiKey(this.handle, { keyHash, activeOnly: true });
    // Only known keys are cached, so random keys cannot grow the cache.
    if (record && version !== undefined && this.active.size < 10_000)
      this.active.set(keyHash, record);
    return record;
  }

  findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return findApiKey(this.handle, { keyHash, activeOnly: false });
  }

  reactivate(id: string, audit: AuditEvent): Promise<boolean> {
    this.active.clear();
    return reactivateApiKey(this.handle, id, audit);
  }

  setPrefix(id: string, prefix: string): Promise<void> {
    this.active.clear();
    return setApiKeyPrefix(this.handle, id, prefix);
  }

  listPage(page: ApiKeyPage): Promise<ApiKeyRecord[]> {
    return listApiKeyPage(this.handle, page);
  }

  count(): Promise<number> {
    return countApiKeys(this.handle);
  }

  /** Returns false when no such key exists or it was revoked already (nothing changed). */
  revoke(id: string, now: number, audit: AuditEvent | null = null): Promise<boolean> {
    this.active.clear();
    return revokeApiKey(this.handle, id, now, audit);
  }
}
