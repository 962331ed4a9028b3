import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../app.ts';
import { ApiError } from '../error-codes.ts';

export function registerHealthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** Alive: the process answers. */
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  /** Ready: the database answers and every migration is applied. */
  app.get('/readyz', { schema: { hide: true } }, async () => {
    const { ready, reason } = await deps.readiness();
    if (!ready) throw new ApiError('not_ready', reason ?? 'not ready');
    return { status: 'ready' };
  });
}
