import type { FastifyRequest } from 'fastify';
import { type Actor, ALL_UNITS, type Scope, unitScope } from '../domain/operations/scope.ts';
import { ApiError } from './errors.ts';

/** What the request's API key may see: every unit (admin key) or its own unit. */
export function scopeOf(request: FastifyRequest): Scope {
  const key = request.apiKey;
  if (!key)
    throw new ApiError('unauthorized', 'send your API key as "Authorization: Bearer <key>"');
  return key.admin ? ALL_UNITS : unitScope(key.unitId);
}

/** The unit a unit key is confined to; undefined for an admin key. */
export function scopeUnitId(request: FastifyRequest): string | undefined {
  const scope = scopeOf(request);
  return scope.kind === 'unit' ? scope.unitId : undefined;
}

/** Who is acting, for the audit log: the API key (never the key itself). */
export function actorOf(request: FastifyRequest): Actor {
  const key = request.apiKey;
  return { type: 'key', id: key?.id ?? 'unknown', name: key?.name ?? null };
}
