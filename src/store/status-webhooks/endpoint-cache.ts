import type { Kysely } from 'kysely';
import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { Database } from '../schema.ts';
import { toEndpoint } from './rows.ts';

/**
 * Active endpoints per database, read at most once a second: completions run thousands of
 * times a second and must not pay a query each when nobody (or the same endpoints) listens.
 */
const ENDPOINT_CACHE_MS = 1_000;
const endpointCache = new WeakMap<object, { at: number; endpoints: WebhookEndpoint[] }>();

/** After an endpoint is created or disabled: the next read sees it. */
export function forgetEndpoints(handle: DatabaseHandle): void {
  endpointCache.delete(handle);
}

/** The active endpoints, from the cache when it is less than a second old. */
export async function activeEndpoints(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  now: number,
): Promise<WebhookEndpoint[]> {
  const cached = endpointCache.get(handle);
  if (cached && Math.abs(now - cached.at) < ENDPOINT_CACHE_MS) return cached.endpoints;
  const rows = await trx
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('disabled_at', 'is', null)
    .execute();
  const endpoints = rows.map(toEndpoint);
  endpointCache.set(handle, { at: now, endpoints });
  return endpoints;
}
