/**
 * What the routes share: reading a body, and answering as SendGrid does (JSON errors, faults,
 * rate-limit headers, cut connections).
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorContext } from '../context.ts';
import type { Decision } from '../faults/decide.ts';
import { BODY_LIMIT } from '../mail-send/messages.ts';
import { BODIES, errorBody, nginxErrorPage } from '../sendgrid-answers.ts';

const gunzipAsync = promisify(gunzip);

export function rateLimitHeaders(
  ctx: SimulatorContext,
  reply: FastifyReply,
  now: number,
  retryAfterSeconds?: number,
): void {
  const { limit, remaining, reset } = ctx.faults.rateLimit(now, retryAfterSeconds);
  reply.header('x-ratelimit-limit', limit);
  reply.header('x-ratelimit-remaining', remaining);
  reply.header('x-ratelimit-reset', reset);
}

export function sendJson(
  ctx: SimulatorContext,
  reply: FastifyReply,
  status: number,
  body: string,
): FastifyReply {
  ctx.log.count(status);
  return reply.code(status).header('content-type', 'application/json').send(body);
}

export function sendFault(
  ctx: SimulatorContext,
  reply: FastifyReply,
  decision: Decision,
  now: number,
): FastifyReply {
  if (decision.kind === 'rate-limited') {
    rateLimitHeaders(ctx, reply, now, decision.retryAfterSeconds);
    reply.header('retry-after', decision.retryAfterSeconds);
    return sendJson(ctx, reply, 429, BODIES.tooManyRequests);
  }
  if (decision.kind !== 'error') throw new Error(`not an answer: ${decision.kind}`);
  rateLimitHeaders(ctx, reply, now);
  if (decision.html) {
    ctx.log.count(decision.status);
    return reply
      .code(decision.status)
      .header('content-type', 'text/html')
      .send(nginxErrorPage(decision.status));
  }
  return sendJson(ctx, reply, decision.status, errorBody(decision.status));
}

export function hijack(
  ctx: SimulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  mode: 'reset' | 'hang',
): void {
  reply.hijack();
  const socket = request.raw.socket;
  if (mode === 'reset') {
    ctx.log.stats.resets++;
    socket.resetAndDestroy();
    return;
  }
  ctx.log.stats.hangs++;
  ctx.hung.add(socket);
  socket.once('close', () => ctx.hung.delete(socket));
}

/** A gzip'd body that unpacks to more than BODY_LIMIT: SendGrid's 413, as for a plain one. */
export class BodyTooLarge extends Error {}

export async function readJson(request: FastifyRequest): Promise<unknown> {
  let bytes = request.body as Buffer | undefined;
  if (bytes === undefined || bytes.length === 0) return undefined;
  if (request.headers['content-encoding'] === 'gzip') {
    // The limit is on what the mail is, not on what travelled: 31 KB of gzip can unpack to 30 MB
    // of mail or to gigabytes of nothing, so unpacking stops one byte past the limit.
    try {
      bytes = await gunzipAsync(bytes, { maxOutputLength: BODY_LIMIT + 1 });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLarge();
      throw error;
    }
    if (bytes.length > BODY_LIMIT) throw new BodyTooLarge();
  }
  return JSON.parse(bytes.toString('utf8'));
}
