import type { FastifyInstance } from 'fastify';

/** `GET /healthz`, alive: the process answers. */
export function registerAlive(app: FastifyInstance): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
}
