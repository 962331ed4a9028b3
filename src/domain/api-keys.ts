import { createHash, randomBytes } from 'node:crypto';
import { newId } from './ids.ts';
import { type AuditEvent, newAuditEvent } from './operations/audit-event.ts';
import type { Actor } from './operations/scope.ts';
import type { ApiKeyRecord, ApiKeyStore } from './ports/api-key-store.ts';
import type { Priority } from './priority.ts';

/**
 * API keys are 256 random bits, shown once when created and stored only as a SHA-256 hash.
 * A slow password hash is not needed: nobody can guess a 256-bit key, and a fast hash keeps the
 * per-request check cheap.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

const KEY_TAG = 'tgm_';

export function generateApiKey(): string {
  return `${KEY_TAG}${randomBytes(32).toString('base64url')}`;
}

/** Characters of a key kept (after the `tgm_` tag), so `tegami keys list` can tell keys apart. */
export const KEY_PREFIX_CHARACTERS = 4;
/** A shorter key keeps none: 4 characters of a short key would give away much of it. */
const MIN_LENGTH_FOR_PREFIX = 16;

/**
 * The part of a key that is stored and shown: its `tgm_` tag, if any, and the next 4 characters,
 * whatever the key's length; a key shorter than 16 characters (after the tag) keeps only the tag.
 */
export function keyPrefix(key: string): string {
  const tag = key.startsWith(KEY_TAG) ? KEY_TAG : '';
  const secret = key.slice(tag.length);
  return secret.length >= MIN_LENGTH_FOR_PREFIX
    ? tag + secret.slice(0, KEY_PREFIX_CHARACTERS)
    : tag;
}

/** A stored prefix as shown; rows written by older versions hold up to 10 characters. */
export function shownKeyPrefix(storedPrefix: string): string {
  const tag = storedPrefix.startsWith(KEY_TAG) ? KEY_TAG : '';
  return storedPrefix.slice(0, tag.length + KEY_PREFIX_CHARACTERS);
}

/** The longest name of an API key. */
export const MAX_API_KEY_NAME_LENGTH = 200;

/**
 * What is wrong with an API key's name, or null. It is printed in tables, logs and the console,
 * so no control characters: a tab or line break would break `tegami keys list`'s rows, and an
 * escape sequence would drive the terminal of whoever lists the keys.
 */
export function apiKeyNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > MAX_API_KEY_NAME_LENGTH) {
    return `must be 1 to ${MAX_API_KEY_NAME_LENGTH} characters`;
  }
  if (/\p{Cc}/u.test(name))
    return 'must not contain control characters (tabs, line breaks, escapes)';
  return null;
}

/**
 * Creates a key of `unitId` (default: the `default` unit); `admin` keys see and act on every
 * unit. With `actor`, its `key.create` event is recorded in the same transaction as the key.
 */
export async function createApiKey(
  store: ApiKeyStore,
  name: string,
  now = Date.now(),
  options: {
    unitId?: string;
    admin?: boolean;
    defaultPriority?: Priority | null;
    actor?: Actor;
  } = {},
): Promise<{ key: string; record: ApiKeyRecord }> {
  const { actor, ...settings } = options;
  const key = generateApiKey();
  const record = await store.insert(
    {
      id: newId('key'),
      name,
      prefix: keyPrefix(key),
      createdAt: now,
      revokedAt: null,
      ...settings,
    },
    hashApiKey(key),
    actor ? (stored) => keyAuditEvent(actor, 'key.create', stored, now) : null,
  );
  return { key, record };
}

/**
 * Revokes `key`; true only when this call did (it was active until now), and then its
 * `key.revoke` by `actor` is recorded in the same transaction, so a key revoked twice at once,
 * or again, is recorded once.
 */
export function revokeApiKey(
  store: ApiKeyStore,
  key: ApiKeyRecord,
  actor: Actor,
  now = Date.now(),
): Promise<boolean> {
  return store.revoke(key.id, now, keyAuditEvent(actor, 'key.revoke', key, now));
}

/** The name of the key a start makes when there is none (createFirstApiKey). */
export const FIRST_KEY_NAME = 'first key (created at first start)';

/**
 * The operator's first key, made by a start that found no key: an admin key in the `default`
 * unit, recorded as made by `actor` in the same transaction. Null when there is a key by now: of
 * several processes starting at once on an empty database, exactly one makes it
 * (ApiKeyStore.insertIfNone), and only that one may show it.
 */
export async function createFirstApiKey(
  store: ApiKeyStore,
  actor: Actor,
  now = Date.now(),
): Promise<{ key: string; record: ApiKeyRecord } | null> {
  const key = generateApiKey();
  const record = await store.insertIfNone(
    {
      id: newId('key'),
      name: FIRST_KEY_NAME,
      prefix: keyPrefix(key),
      createdAt: now,
      revokedAt: null,
      admin: true,
    },
    hashApiKey(key),
    (stored) => keyAuditEvent(actor, 'key.create', stored, now),
  );
  return record ? { key, record } : null;
}

/**
 * The unit an audit event about `key` names: its own for a unit key, none for an admin key,
 * which acts on every unit (its unit is only where its own mail goes).
 */
export function auditedUnitOfKey(key: Pick<ApiKeyRecord, 'admin' | 'unitId'>): string | null {
  return key.admin ? null : key.unitId;
}

/** The name of the key made from TEGAMI_BOOTSTRAP_API_KEY, as the audit log names its actor. */
export const BOOTSTRAP_KEY_NAME = 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)';

/** That key's name as the console and `tegami audit` show it (actor-words.ts), and find it by. */
export const BOOTSTRAP_SHOWN_NAME = 'bootstrap';

/** What a start did to the key from TEGAMI_BOOTSTRAP_API_KEY (ensureBootstrapKey). */
export type BootstrapKeyChange =
  /** Made it: the variable names a key not stored yet. */
  | { kind: 'created'; key: ApiKeyRecord }
  /** Made it active again: it had been revoked at `revokedAt`. */
  | { kind: 'reactivated'; key: ApiKeyRecord; revokedAt: number }
  /** It was there and active (or another process starting at once made it so). */
  | { kind: 'unchanged'; key: ApiKeyRecord };

/**
 * Makes sure `key` exists, is active and is an admin key (TEGAMI_BOOTSTRAP_API_KEY: the
 * operator's own key, set in the environment). Making it, or making it active again, is recorded
 * as done by `actor` in the same transaction. Says what changed, so the start can log it: of
 * several processes starting at once, only the one whose write made the key, or made it active
 * again, is told so (and records it).
 */
export async function ensureBootstrapKey(
  store: ApiKeyStore,
  key: string,
  actor: Actor,
  now = Date.now(),
): Promise<BootstrapKeyChange> {
  const hash = hashApiKey(key);
  const existing = await store.findByHash(hash);
  if (existing) {
    // Older versions stored up to half of a short bootstrap key; keep only today's prefix.
    if (existing.prefix !== keyPrefix(key)) await store.setPrefix(existing.id, keyPrefix(key));
    if (!existing.admin) await store.makeAdmin(existing.id);
    const current = { ...existing, prefix: keyPrefix(key), admin: true, revokedAt: null };
    if (
      existing.revokedAt !== null &&
      (await store.reactivate(existing.id, keyAuditEvent(actor, 'key.reactivate', current, now)))
    ) {
      return { kind: 'reactivated', key: current, revokedAt: existing.revokedAt };
    }
    return { kind: 'unchanged', key: current };
  }
  try {
    const created = await store.insert(
      {
        id: newId('key'),
        name: BOOTSTRAP_KEY_NAME,
        prefix: keyPrefix(key),
        createdAt: now,
        revokedAt: null,
        admin: true,
      },
      hash,
      (stored) => keyAuditEvent(actor, 'key.create', stored, now),
    );
    return { kind: 'created', key: created };
  } catch (error) {
    // Several processes starting at once: another one inserted it first, which is just as good
    // (and recorded it: this one's event went with its failed insert).
    const inserted = await store.findByHash(hash);
    if (!inserted) throw error;
    return { kind: 'unchanged', key: inserted };
  }
}

/**
 * An audit event about `key` (key.create, key.revoke, key.reactivate), the same from the
 * console, `tegami keys` and a start: its unit (auditedUnitOfKey) and id, and for a new key its
 * name, whether it is an admin key and its priority, since a key that can act on every unit is
 * worth finding.
 */
export function keyAuditFields(
  action: 'key.create' | 'key.revoke' | 'key.reactivate',
  key: ApiKeyRecord,
): { unitId: string | null; target: string; filter?: Record<string, unknown> } {
  return {
    unitId: auditedUnitOfKey(key),
    target: key.id,
    ...(action === 'key.create'
      ? { filter: { name: key.name, admin: key.admin, default_priority: key.defaultPriority } }
      : {}),
  };
}

/** The audit event of `action` on `key` by `actor` at `at`, as keyAuditFields words it. */
export function keyAuditEvent(
  actor: Actor,
  action: 'key.create' | 'key.revoke' | 'key.reactivate',
  key: ApiKeyRecord,
  at: number,
): AuditEvent {
  return newAuditEvent(actor, action, keyAuditFields(action, key), at);
}
