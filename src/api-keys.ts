import { createHash, randomBytes } from 'node:crypto';
import { newId } from './domain/ids.ts';
import type { ApiKeyRecord, SqlApiKeyStore } from './store/sql-api-key-store.ts';

/**
 * API keys are 256 random bits, shown once when created and stored only as a SHA-256 hash.
 * A slow password hash is not needed: nobody can guess a 256-bit key, and a fast hash keeps the
 * per-request check cheap.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateApiKey(): string {
  return `tgm_${randomBytes(32).toString('base64url')}`;
}

/**
 * Creates a key of `unitId` (default: the `default` unit); `admin` keys see and act on every
 * unit.
 */
export async function createApiKey(
  store: SqlApiKeyStore,
  name: string,
  now = Date.now(),
  options: { unitId?: string; admin?: boolean } = {},
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = generateApiKey();
  const record = await store.insert(
    {
      id: newId('key'),
      name,
      prefix: key.slice(0, 10),
      createdAt: now,
      revokedAt: null,
      ...options,
    },
    hashApiKey(key),
  );
  return { key, record };
}

/**
 * Makes sure `key` exists, is active and is an admin key (TEGAMI_BOOTSTRAP_API_KEY: the
 * operator's own key, set in the environment).
 */
export async function ensureBootstrapKey(store: SqlApiKeyStore, key: string): Promise<void> {
  const hash = hashApiKey(key);
  const existing = await store.findByHash(hash);
  if (existing) {
    if (existing.revokedAt !== null) await store.reactivate(existing.id);
    if (!existing.admin) await store.makeAdmin(existing.id);
    return;
  }
  try {
    await store.insert(
      {
        id: newId('key'),
        name: 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)',
        prefix: key.slice(0, Math.min(10, Math.floor(key.length / 2))),
        createdAt: Date.now(),
        revokedAt: null,
        admin: true,
      },
      hash,
    );
  } catch (error) {
    // Several processes starting at once: another one inserted it first, which is just as good.
    if (!(await store.findByHash(hash))) throw error;
  }
}
