import type { FastifyInstance } from 'fastify';
import type { MonitoringView } from '../../deps.ts';
import { registerMetrics } from './metrics.ts';
import { registerStatus } from './status.ts';

/** `/metrics` (Prometheus) and `/status` (uptime monitors): at the root, no API key. */
export function registerMonitoringRoutes(app: FastifyInstance, view: MonitoringView): void {
  registerMetrics(app, view);
  registerStatus(app, view);
}
