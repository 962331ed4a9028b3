/** `POST /v3/mail/send`: faults first, then authentication, validation, and the 202. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from '../context.ts';
import { categoryRejection, senderRejection } from '../faults/decide.ts';
import type { SendGridError } from '../mail-send/errors.ts';
import { BODIES } from '../sendgrid-answers.ts';
import { BodyTooLarge, hijack, rateLimitHeaders, readJson, sendFault, sendJson } from './reply.ts';

export function registerMailSend(app: FastifyInstance, ctx: SimulatorContext): void {
  const faults = ctx.faults.settings;

  app.post('/v3/mail/send', async (request, reply) => {
    ctx.log.stats.requests++;
    let now = ctx.clock();
    ctx.faults.sync(now);
    const decision = ctx.faults.decide(now, ctx.random);
    if (decision.kind === 'hang') {
      hijack(ctx, request, reply, 'hang');
      return reply;
    }
    if (decision.delayMs > 0) {
      await sleep(decision.delayMs);
      now = ctx.clock();
    }
    if (decision.kind === 'reset') {
      hijack(ctx, request, reply, 'reset');
      return reply;
    }
    if (decision.kind !== 'pass') return sendFault(ctx, reply, decision, now);

    rateLimitHeaders(ctx, reply, now);
    const auth = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!auth?.[1]) return sendJson(ctx, reply, 401, BODIES.authorizationRequired);
    if (ctx.apiKey !== null && auth[1] !== ctx.apiKey) {
      return sendJson(ctx, reply, 401, BODIES.unauthorized);
    }

    // biome-ignore lint/suspicious/noExplicitAny: JSON, validated just below
    let body: any;
    try {
      body = await readJson(request);
    } catch (error) {
      if (error instanceof BodyTooLarge) return sendJson(ctx, reply, 413, BODIES.tooLarge);
      return sendJson(ctx, reply, 400, BODIES.badRequest);
    }
    if (body === undefined) return sendJson(ctx, reply, 400, BODIES.badRequest);
    const errors: SendGridError[] = ctx.validateMailSend(body, now);
    if (errors.length > 0) return sendJson(ctx, reply, 400, JSON.stringify({ errors }));
    const rejected = categoryRejection(faults, body);
    if (rejected) return sendJson(ctx, reply, 400, JSON.stringify({ errors: rejected }));
    const unverified = senderRejection(faults, body);
    if (unverified) return sendJson(ctx, reply, 403, JSON.stringify({ errors: unverified }));

    if (body.mail_settings?.sandbox_mode?.enable === true) {
      ctx.log.stats.sandbox++;
      ctx.log.count(200);
      return reply.code(200).send();
    }

    const xMessageId = ctx.log.accept(body, now);
    try {
      ctx.events.accepted({ xMessageId, receivedAt: now, body });
    } catch (err) {
      request.log.error({ err }, 'event webhook emitter failed');
    }
    // Taken, but the answer is late: the client may time out without knowing.
    if (faults.lateAnswerMs) await sleep(faults.lateAnswerMs);
    ctx.log.count(202);
    return reply
      .code(202)
      .header('x-message-id', xMessageId)
      .header('content-type', 'text/plain; charset=utf-8')
      .send();
  });

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '/v3/mail/send',
    handler: async (_request, reply) => {
      ctx.log.stats.requests++;
      rateLimitHeaders(ctx, reply, ctx.clock());
      return sendJson(ctx, reply, 405, BODIES.methodNotAllowed);
    },
  });
}
