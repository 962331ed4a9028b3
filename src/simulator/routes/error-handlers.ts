/**
 * What fails or matches no route: the control API answers `{"error": ...}`, anything else is
 * answered as SendGrid would (and counted in the stats).
 */
import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from '../context.ts';
import { FaultsError } from '../faults/settings.ts';
import { BODIES, errorBody } from '../sendgrid-answers.ts';
import { ControlError, controlError } from './control.ts';
import { rateLimitHeaders, sendJson } from './reply.ts';

export function setErrorHandlers(app: FastifyInstance, ctx: SimulatorContext): void {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (request.url.startsWith('/_simulator')) {
      if (error instanceof FaultsError || error instanceof ControlError) {
        return controlError(reply, 400, error.message);
      }
      if (status >= 500) request.log.error({ err: error }, 'control request failed');
      return controlError(reply, status, error.message);
    }
    ctx.log.stats.requests++;
    rateLimitHeaders(ctx, reply, ctx.clock());
    if (status === 413) return sendJson(ctx, reply, 413, BODIES.tooLarge);
    if (status >= 400 && status < 500) return sendJson(ctx, reply, status, errorBody(status));
    request.log.error({ err: error }, 'request failed');
    return sendJson(ctx, reply, 500, errorBody(500));
  });
  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/_simulator')) {
      return controlError(
        reply,
        404,
        `no route for ${request.method} ${request.url.split('?')[0]}`,
      );
    }
    ctx.log.stats.requests++;
    rateLimitHeaders(ctx, reply, ctx.clock());
    return sendJson(ctx, reply, 404, BODIES.notFound);
  });
}
