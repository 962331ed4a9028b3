import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../../deps.ts';
import { registerAlive } from './alive.ts';
import { registerReady } from './ready.ts';

/** `/healthz` and `/readyz`, for load balancers and orchestrators: no API key, not documented. */
export function registerHealthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  registerAlive(app);
  registerReady(app, deps);
}
