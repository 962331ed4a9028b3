import type { AuditEvent } from '../operations/audit-event.ts';
import type { Priority } from '../priority.ts';

export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
  /** The unit its mail goes into and, unless `admin`, the only unit it sees. */
  unitId: string;
  /** Sees and acts on every unit. */
  admin: boolean;
  /** The priority of mail submitted with this key that sets none; null: the unit's default. */
  defaultPriority: Priority | null;
}

/** A key to store; without a unit it goes into the `default` unit. */
export type NewApiKey = Omit<ApiKeyRecord, 'unitId' | 'admin' | 'defaultPriority'> & {
  unitId?: string;
  admin?: boolean;
  defaultPriority?: Priority | null;
};

/** A page of keys, newest first: `limit` of them, those made before the key `beforeId`. */
export interface ApiKeyPage {
  limit: number;
  beforeId?: string;
}

/**
 * The audit event of a key just stored, made from the key as stored: only then is the unit of a
 * key stored without one (the `default` unit) known.
 */
export type KeyCreatedEvent = (stored: ApiKeyRecord) => AuditEvent;

/** API keys, stored as SHA-256 hashes only (see api-keys.ts). */
export interface ApiKeyStore {
  /** Records the event `audit` makes of the key, if any, in the same transaction. */
  insert(record: NewApiKey, keyHash: string, audit: KeyCreatedEvent | null): Promise<ApiKeyRecord>;
  /**
   * Stores the key only if there is no key at all, revoked ones included; null when there is.
   * Of several processes asking at once, exactly one stores its key, and records `audit`'s event
   * in the same transaction.
   */
  insertIfNone(
    record: NewApiKey,
    keyHash: string,
    audit: KeyCreatedEvent,
  ): Promise<ApiKeyRecord | null>;
  makeAdmin(id: string): Promise<void>;
  findById(id: string): Promise<ApiKeyRecord | null>;
  /** The active key with this hash, for authenticating a request; cached, so cheap. */
  findActiveByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  findByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  /**
   * Takes back a revocation; true only when this call did (the key was revoked until now), and
   * then records `audit` in the same transaction.
   */
  reactivate(id: string, audit: AuditEvent): Promise<boolean>;
  setPrefix(id: string, prefix: string): Promise<void>;
  /** A page of keys, revoked ones too, newest first (by id: ids sort by creation time). */
  listPage(page: ApiKeyPage): Promise<ApiKeyRecord[]>;
  count(): Promise<number>;
  /**
   * Revokes an active key; true only when this call did (false: no such key, or revoked
   * already), and then records `audit`, if given, in the same transaction.
   */
  revoke(id: string, now: number, audit?: AuditEvent | null): Promise<boolean>;
}
