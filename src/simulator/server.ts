import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import pino from 'pino';
import { EventWebhookEmitter, type EventWebhookOptions } from './event-webhook/emitter.ts';
import {
  bucketRemaining,
  categoryRejection,
  type Decision,
  decide,
  initialFaultState,
} from './faults/decide.ts';
import { type Faults, FaultsError, validateFaults, validateOutage } from './faults/settings.ts';
import type { SendGridError } from './mail-send/errors.ts';
import { createMailSendValidator } from './mail-send/validate.ts';

export interface SimulatorOptions {
  /** Default 127.0.0.1. The control API has no authentication: keep it on loopback. */
  host?: string;
  /** Default 4030; 0 = any free port. */
  port?: number;
  /** Only `Authorization: Bearer <apiKey>` is accepted; unset = any non-empty bearer token. */
  apiKey?: string | null;
  /** Faults from the start. */
  faults?: Faults;
  /** Event Webhook emission; default: record events, post nothing. */
  eventWebhook?: EventWebhookOptions;
  /** Log level of the simulator's own log; default 'silent'. Requests are logged only at debug. */
  logLevel?: 'silent' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The newest sends kept for `GET /_simulator/messages`; default 100,000. */
  maxStoredMessages?: number;
  /** For tests: the random source of the fault decisions (default Math.random). */
  random?: () => number;
  /** For tests: the clock, epoch ms (default Date.now). */
  clock?: () => number;
}

export interface RunningSimulator {
  /** e.g. `http://127.0.0.1:4030`; SendGrid's API is under `${url}/v3/...`. */
  url: string;
  /** The Event Webhook verification key, SPKI DER in base64, as SendGrid's UI shows it. */
  publicKeyBase64: string;
  /** The live fault settings: change a field and the next request sees it. */
  faults: Faults;
  close(): Promise<void>;
}

/** A send SendGrid accepted (202), as `GET /_simulator/messages` lists it. */
export interface StoredMessage {
  x_message_id: string;
  /** Epoch ms. */
  received_at: number;
  // biome-ignore lint/suspicious/noExplicitAny: the validated mail/send JSON, a large loose shape
  body: any;
}

export const DEFAULT_PORT = 4030;
/** SendGrid's limit on a mail/send request. */
export const BODY_LIMIT = 30 * 1024 * 1024;
/** What `X-RateLimit-Limit` says when no rate limit is set (requests per second). */
export const NOMINAL_RATE_LIMIT = 10_000;
const DEFAULT_MAX_STORED = 100_000;

const gunzipAsync = promisify(gunzip);

/** SendGrid's error answer: `{"errors":[{message, field, help}]}`. */
function sgErrors(message: string, field: string | null = null, help: string | null = null) {
  return JSON.stringify({ errors: [{ message, field, help }] });
}

const BODIES = {
  badRequest: sgErrors('Bad Request'),
  unauthorized: sgErrors('The provided authorization grant is invalid, expired, or revoked'),
  authorizationRequired: sgErrors('authorization required'),
  notFound: sgErrors('not found'),
  methodNotAllowed: sgErrors('method not allowed'),
  tooLarge: sgErrors('content too large'),
  tooManyRequests: sgErrors('too many requests'),
};

/** `GET /v3/scopes` for a missing or unknown key: SendGrid's words, field first, no `help`. */
const SCOPES_UNAUTHORIZED = JSON.stringify({
  errors: [{ field: null, message: 'authorization required' }],
});

/** The scopes SendGrid lists for a key restricted to Mail Send. */
export const SIMULATED_SCOPES = [
  '2fa_exempt',
  '2fa_required',
  'mail.send',
  'sender_verification_eligible',
];

const STATUS_MESSAGES: Record<number, string> = {
  400: 'Bad Request',
  401: 'The provided authorization grant is invalid, expired, or revoked',
  403: 'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements',
  404: 'not found',
  405: 'method not allowed',
  413: 'content too large',
  429: 'too many requests',
  500: 'internal server error',
  502: 'bad gateway',
  503: 'service unavailable',
  504: 'gateway timeout',
};

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Not Allowed',
  408: 'Request Time-out',
  413: 'Request Entity Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** The page nginx answers with when the service behind it fails. */
export function nginxErrorPage(status: number): string {
  const title = `${status} ${REASONS[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

function errorBody(status: number): string {
  return sgErrors(STATUS_MESSAGES[status] ?? `http error ${status}`);
}

/** X-Message-Id values: 16 random bytes as 22 characters of URL-safe base64, like SendGrid's. */
class MessageIds {
  private pool = Buffer.alloc(0);
  private offset = 0;
  next(): string {
    if (this.offset + 16 > this.pool.length) {
      this.pool = randomBytes(16 * 1024);
      this.offset = 0;
    }
    const id = this.pool.toString('base64url', this.offset, this.offset + 16);
    this.offset += 16;
    return id;
  }
}

interface Stats {
  requests: number;
  by_status: Record<string, number>;
  resets: number;
  hangs: number;
  accepted: number;
  sandbox: number;
  duplicates: number;
}

function emptyStats(): Stats {
  return {
    requests: 0,
    by_status: {},
    resets: 0,
    hangs: 0,
    accepted: 0,
    sandbox: 0,
    duplicates: 0,
  };
}

class ControlError extends Error {}

/**
 * The Tegami message ids a send carries: `custom_args.tegami_message_id` of each personalization,
 * or of the message where a personalization has none (SendGrid merges the two that way).
 */
function tegamiIds(body: {
  custom_args?: Record<string, unknown>;
  personalizations: { custom_args?: Record<string, unknown> }[];
}): Set<string> {
  const ids = new Set<string>();
  const global = body.custom_args?.tegami_message_id;
  for (const p of body.personalizations) {
    const id = p.custom_args?.tegami_message_id ?? global;
    if (typeof id === 'string') ids.add(id);
  }
  return ids;
}

/** Starts the simulator on a real port. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const maxStored = options.maxStoredMessages ?? DEFAULT_MAX_STORED;
  const validateMailSend = createMailSendValidator();
  const events = new EventWebhookEmitter(options.eventWebhook ?? { url: null });
  const ids = new MessageIds();

  let apiKey: string | null = options.apiKey ?? null;
  const faults: Faults = validateFaults(options.faults ?? {});
  const faultState = initialFaultState();
  let startedOutage: Faults['outage'];
  let messages: StoredMessage[] = [];
  let stored = 0; // messages accepted since the last reset, including those no longer kept
  const seenTegamiIds = new Set<string>();
  let stats = emptyStats();
  let windowSecond = 0;
  let windowCount = 0;
  const hung = new Set<Socket>();

  /** Starts an outage the moment it appears in `faults`; forgets it once it has ended. */
  function syncOutage(now: number): void {
    const outage = faults.outage;
    if (outage === undefined) {
      startedOutage = undefined;
      return;
    }
    if (outage !== startedOutage) {
      startedOutage = outage;
      faultState.outageEndsAt = now + outage.durationMs;
    } else if (now >= faultState.outageEndsAt) {
      delete faults.outage;
      startedOutage = undefined;
    }
  }

  function replaceFaults(next: Faults, now: number): void {
    for (const key of Object.keys(faults)) delete faults[key as keyof Faults];
    Object.assign(faults, next);
    faultState.tokens = Number.NaN;
    startedOutage = undefined;
    syncOutage(now);
  }

  const logger =
    options.logLevel && options.logLevel !== 'silent'
      ? pino({ level: options.logLevel, base: { service: 'tegami-simulator' } })
      : null;
  const app: FastifyInstance = Fastify({
    ...(logger ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    logController: new LogController({
      disableRequestLogging: !logger?.isLevelEnabled('debug'),
    }),
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
  });

  // Every body is read as bytes and parsed in the handler, so that faults, authentication and
  // SendGrid's "Bad Request" come in SendGrid's order, whatever the Content-Type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  function count(status: number): void {
    const key = String(status);
    stats.by_status[key] = (stats.by_status[key] ?? 0) + 1;
  }

  function rateLimitHeaders(reply: FastifyReply, now: number, retryAfterSeconds?: number): void {
    const second = Math.floor(now / 1000);
    if (second !== windowSecond) {
      windowSecond = second;
      windowCount = 0;
    }
    windowCount++;
    const rate = faults.rateLimitPerSecond;
    const limit = rate != null && rate > 0 ? Math.max(1, Math.floor(rate)) : NOMINAL_RATE_LIMIT;
    let remaining = bucketRemaining(faults, faultState) ?? Math.max(0, limit - windowCount);
    let reset = second + 1;
    if (retryAfterSeconds !== undefined) {
      remaining = 0;
      reset = Math.ceil(now / 1000) + retryAfterSeconds;
    }
    reply.header('x-ratelimit-limit', limit);
    reply.header('x-ratelimit-remaining', remaining);
    reply.header('x-ratelimit-reset', reset);
  }

  function sendJson(reply: FastifyReply, status: number, body: string): FastifyReply {
    count(status);
    return reply.code(status).header('content-type', 'application/json').send(body);
  }

  function sendFault(reply: FastifyReply, decision: Decision, now: number): FastifyReply {
    if (decision.kind === 'rate-limited') {
      rateLimitHeaders(reply, now, decision.retryAfterSeconds);
      reply.header('retry-after', decision.retryAfterSeconds);
      return sendJson(reply, 429, BODIES.tooManyRequests);
    }
    if (decision.kind !== 'error') throw new Error(`not an answer: ${decision.kind}`);
    rateLimitHeaders(reply, now);
    if (decision.html) {
      count(decision.status);
      return reply
        .code(decision.status)
        .header('content-type', 'text/html')
        .send(nginxErrorPage(decision.status));
    }
    return sendJson(reply, decision.status, errorBody(decision.status));
  }

  function hijack(request: FastifyRequest, reply: FastifyReply, mode: 'reset' | 'hang'): void {
    reply.hijack();
    const socket = request.raw.socket;
    if (mode === 'reset') {
      stats.resets++;
      socket.resetAndDestroy();
      return;
    }
    stats.hangs++;
    hung.add(socket);
    socket.once('close', () => hung.delete(socket));
  }

  async function readJson(request: FastifyRequest): Promise<unknown> {
    let bytes = request.body as Buffer | undefined;
    if (bytes === undefined || bytes.length === 0) return undefined;
    if (request.headers['content-encoding'] === 'gzip') bytes = await gunzipAsync(bytes);
    return JSON.parse(bytes.toString('utf8'));
  }

  app.post('/v3/mail/send', async (request, reply) => {
    stats.requests++;
    let now = clock();
    syncOutage(now);
    const decision = decide(faults, faultState, now, random);
    if (decision.kind === 'hang') {
      hijack(request, reply, 'hang');
      return reply;
    }
    if (decision.delayMs > 0) {
      await sleep(decision.delayMs);
      now = clock();
    }
    if (decision.kind === 'reset') {
      hijack(request, reply, 'reset');
      return reply;
    }
    if (decision.kind !== 'pass') return sendFault(reply, decision, now);

    rateLimitHeaders(reply, now);
    const auth = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!auth?.[1]) return sendJson(reply, 401, BODIES.authorizationRequired);
    if (apiKey !== null && auth[1] !== apiKey) return sendJson(reply, 401, BODIES.unauthorized);

    // biome-ignore lint/suspicious/noExplicitAny: JSON, validated just below
    let body: any;
    try {
      body = await readJson(request);
    } catch {
      return sendJson(reply, 400, BODIES.badRequest);
    }
    if (body === undefined) return sendJson(reply, 400, BODIES.badRequest);
    const errors: SendGridError[] = validateMailSend(body, now);
    if (errors.length > 0) return sendJson(reply, 400, JSON.stringify({ errors }));
    const rejected = categoryRejection(faults, body);
    if (rejected) return sendJson(reply, 400, JSON.stringify({ errors: rejected }));

    if (body.mail_settings?.sandbox_mode?.enable === true) {
      stats.sandbox++;
      count(200);
      return reply.code(200).send();
    }

    const xMessageId = ids.next();
    stats.accepted++;
    for (const tegamiId of tegamiIds(body)) {
      if (seenTegamiIds.has(tegamiId)) stats.duplicates++;
      else seenTegamiIds.add(tegamiId);
    }
    messages.push({ x_message_id: xMessageId, received_at: now, body });
    stored++;
    if (messages.length > maxStored) messages = messages.slice(-Math.floor(maxStored * 0.9));
    try {
      events.accepted({ xMessageId, receivedAt: now, body });
    } catch (err) {
      request.log.error({ err }, 'event webhook emitter failed');
    }
    // Taken, but the answer is late: the client may time out without knowing.
    if (faults.lateAnswerMs) await sleep(faults.lateAnswerMs);
    count(202);
    return reply
      .code(202)
      .header('x-message-id', xMessageId)
      .header('content-type', 'text/plain; charset=utf-8')
      .send();
  });

  // The permissions of the key that asks: what a client checks before sending. Faults and stats
  // concern mail/send only.
  app.get('/v3/scopes', async (request, reply) => {
    const auth = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const known = auth?.[1] !== undefined && (apiKey === null || auth[1] === apiKey);
    reply.header('content-type', 'application/json');
    if (!known) return reply.code(401).send(SCOPES_UNAUTHORIZED);
    return reply.code(200).send(JSON.stringify({ scopes: SIMULATED_SCOPES }));
  });

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '/v3/mail/send',
    handler: async (_request, reply) => {
      stats.requests++;
      rateLimitHeaders(reply, clock());
      return sendJson(reply, 405, BODIES.methodNotAllowed);
    },
  });

  // ----------------------------------------------------------------------------------------
  // Control API

  async function controlBody(request: FastifyRequest): Promise<unknown> {
    try {
      return await readJson(request);
    } catch {
      throw new ControlError('the body must be JSON');
    }
  }

  function controlError(reply: FastifyReply, status: number, message: string) {
    return reply.code(status).send({ error: message });
  }

  app.get('/_simulator/faults', async () => {
    syncOutage(clock());
    return faults;
  });
  app.put('/_simulator/faults', async (request) => {
    replaceFaults(validateFaults(await controlBody(request)), clock());
    return faults;
  });
  app.post('/_simulator/outage', async (request) => {
    const outage = validateOutage(await controlBody(request));
    const now = clock();
    faults.outage = outage;
    syncOutage(now);
    return { outage, ends_at: faultState.outageEndsAt };
  });
  app.delete('/_simulator/outage', async () => {
    const ended = faults.outage !== undefined;
    delete faults.outage;
    syncOutage(clock());
    return { ended };
  });
  app.put('/_simulator/api-key', async (request) => {
    const body = await controlBody(request);
    const key = (body as { apiKey?: unknown } | null)?.apiKey;
    if (
      typeof body !== 'object' ||
      body === null ||
      !(key === null || (typeof key === 'string' && key.trim() !== '' && !/\s/.test(key)))
    ) {
      throw new ControlError(
        'send {"apiKey": "<key>"} to accept only that key, or {"apiKey": null} to accept any',
      );
    }
    apiKey = key;
    return { api_key_required: apiKey !== null };
  });
  app.get('/_simulator/messages', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    const offset = query.offset === undefined ? 0 : Number(query.offset);
    if (!Number.isInteger(limit) || limit < 0 || !Number.isInteger(offset) || offset < 0) {
      return controlError(reply, 400, 'limit and offset must be whole numbers >= 0');
    }
    return {
      total: stored,
      kept: messages.length,
      messages: messages.slice(offset, offset + limit),
    };
  });
  app.get('/_simulator/stats', async () => stats);
  app.get('/_simulator/events', async () => events.snapshot());
  app.get('/_simulator/public-key', async () => ({ public_key: events.publicKeyBase64 }));
  app.post('/_simulator/reset', async () => {
    messages = [];
    stored = 0;
    seenTegamiIds.clear();
    stats = emptyStats();
    events.reset();
    replaceFaults({}, clock());
    return { reset: true };
  });

  // ----------------------------------------------------------------------------------------

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (request.url.startsWith('/_simulator')) {
      if (error instanceof FaultsError || error instanceof ControlError) {
        return controlError(reply, 400, error.message);
      }
      if (status >= 500) request.log.error({ err: error }, 'control request failed');
      return controlError(reply, status, error.message);
    }
    stats.requests++;
    rateLimitHeaders(reply, clock());
    if (status === 413) return sendJson(reply, 413, BODIES.tooLarge);
    if (status >= 400 && status < 500) return sendJson(reply, status, errorBody(status));
    request.log.error({ err: error }, 'request failed');
    return sendJson(reply, 500, errorBody(500));
  });
  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/_simulator')) {
      return controlError(
        reply,
        404,
        `no route for ${request.method} ${request.url.split('?')[0]}`,
      );
    }
    stats.requests++;
    rateLimitHeaders(reply, clock());
    return sendJson(reply, 404, BODIES.notFound);
  });

  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port ?? DEFAULT_PORT });
  } catch (err) {
    await events.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${port}`,
    publicKeyBase64: events.publicKeyBase64,
    faults,
    close() {
      closing ??= (async () => {
        for (const socket of hung) socket.destroy();
        hung.clear();
        await app.close();
        await events.close();
      })();
      return closing;
    },
  };
}
