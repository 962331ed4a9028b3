import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { MonitoringView } from '../../deps.ts';
import { ApiError } from '../../errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `GET /metrics`: Prometheus text format. With TEGAMI_METRICS_TOKEN set, only a request with
 * `Authorization: Bearer <token>` gets it (compared in constant time).
 */
export function registerMetrics(app: FastifyInstance, view: MonitoringView): void {
  const metrics = view.metrics;
  if (!metrics) return;
  const expected = view.metricsToken ? digest(view.metricsToken) : null;
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (expected) {
      const header = request.headers.authorization ?? '';
      const match = /^Bearer (.+)$/i.exec(header);
      if (!match?.[1] || !timingSafeEqual(digest(match[1]), expected)) {
        throw new ApiError(
          'unauthorized',
          'send the metrics token (TEGAMI_METRICS_TOKEN) as "Authorization: Bearer <token>"',
        );
      }
    }
    const { contentType, body } = await metrics();
    void reply.header('content-type', contentType).header('cache-control', 'no-store');
    return body;
  });
}
