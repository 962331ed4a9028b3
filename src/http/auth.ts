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
  const key = await deps.findApiKey(hashApiKey(match[1]));
  if (!key) throw new ApiError('unauthorized', 'unknown or revoked API key');
  return key;
}
