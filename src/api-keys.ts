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

export async function createApiKey(
  store: SqlApiKeyStore,
  name: string,
  now = Date.now(),
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = generateApiKey();
  const record: ApiKeyRecord = {
    id: newId('key'),
    name,
    prefix: key.slice(0, 10),
    createdAt: now,
    revokedAt: null,
  };
  await store.insert(record, hashApiKey(key));
  return { key, record };
}

/** Makes sure `key` exists and is active (TEGAMI_BOOTSTRAP_API_KEY). */
export async function ensureBootstrapKey(store: SqlApiKeyStore, key: string): Promise<void> {
  const hash = hashApiKey(key);
  const existing = await store.findByHash(hash);
  if (existing) {
    if (existing.revokedAt !== null) await store.reactivate(existing.id);
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
      },
      hash,
    );
  } catch (error) {
    // Several processes starting at once: another one inserted it first, which is just as good.
    if (!(await store.findByHash(hash))) throw error;
  }
}
