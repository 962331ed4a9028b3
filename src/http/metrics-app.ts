import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { closeConnectionsAfterLastAnswer } from './close-connections.ts';
import type { MonitoringView } from './deps.ts';
import { ApiError } from './errors.ts';
import { toApiError } from './map-errors.ts';
import { registerMetrics } from './routes/monitoring/metrics.ts';

/**
 * `/metrics` on its own port (TEGAMI_METRICS_PORT), for worker processes, which serve no API,
 * and for deployments that keep metrics off the public port.
 */
export async function buildMetricsApp(view: MonitoringView): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  // A scrape under way when the process stops does not hold the stop for its keep-alive.
  closeConnectionsAfterLastAnswer(app);
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const apiError = toApiError(error);
    void reply.status(apiError.status).send(apiError.toBody());
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send(new ApiError('not_found', 'only GET /metrics is here').toBody());
  });
  registerMetrics(app, view);
  await app.ready();
  return app;
}
