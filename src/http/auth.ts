import type { FastifyRequest } from 'fastify';
import { hashApiKey } from '../domain/api-keys.ts';
import type { ApiKeyRecord } from '../domain/ports/api-key-store.ts';
import type { ApiDeps } from './deps.ts';
import { ApiError } from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyRecord | null;
  }
}

/** The `onRequest` hook of `/v1`: every request there names an active API key. */
export function authenticateRequests(deps: Pick<ApiDeps, 'findApiKey'>) {
  return async (request: FastifyRequest) => {
    request.apiKey = await authenticate(request.headers.authorization, deps);
  };
}

async function authenticate(
  header: string | undefined,
  deps: Pick<ApiDeps, 'findApiKey'>,
): Promise<ApiKeyRecord> {
  const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) {
    throw new ApiError('unauthorized', 'send your API key as "Authorization: Bearer <key>"');
  }
  const key = await findKeyAsGiven(match[1], deps);
  if (!key) throw new ApiError('unauthorized', 'unknown or revoked API key');
  return key;
}

/**
 * SendGrid's official clients warn when a key does not start with `SG.`, so a Tegami key may be
 * given as `SG.<Tegami key>` on `/v3`. An application that keeps it so and calls `/v1` with the
 * same setting is served too: the prefix is dropped before the look-up. A key that itself starts
 * with `SG.` (a bootstrap key can be any text) is still found as it is.
 */
const SENDGRID_KEY_PREFIX = 'SG.';

/** The active key `given` names, as it is or written `SG.<key>`; null: none. */
export async function findKeyAsGiven(
  given: string,
  deps: Pick<ApiDeps, 'findApiKey'>,
): Promise<ApiKeyRecord | null> {
  if (given.startsWith(SENDGRID_KEY_PREFIX)) {
    const found = await deps.findApiKey(hashApiKey(given.slice(SENDGRID_KEY_PREFIX.length)));
    if (found) return found;
  }
  return deps.findApiKey(hashApiKey(given));
}
