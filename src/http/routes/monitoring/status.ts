import type { FastifyInstance } from 'fastify';
import type { MonitoringView } from '../../deps.ts';

/**
 * `GET /status`, for external uptime monitors: 503 while a critical alert fires, else 200. No key
 * and no details beyond states and counts: it is meant to be reachable from outside. It is not
 * `/readyz`: a provider outage must not take the API out of rotation (mail is still accepted),
 * but it must page someone.
 */
export function registerStatus(app: FastifyInstance, view: MonitoringView): void {
  app.get('/status', { schema: { hide: true } }, async (_request, reply) => {
    const firing = await view.firing();
    const critical = firing.filter((a) => a.severity === 'critical').length;
    const warning = firing.length - critical;
    void reply.status(critical > 0 ? 503 : 200).header('cache-control', 'no-store');
    return {
      status: critical > 0 ? 'critical' : warning > 0 ? 'warning' : 'ok',
      alerts_firing: { critical, warning },
    };
  });
}
