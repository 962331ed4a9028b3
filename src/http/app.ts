import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type HTTPMethods,
  LogController,
} from 'fastify';
import { failsEveryWrite } from '../domain/ports/database-unavailable.ts';
import { registerBodyParsers } from './body-parsers.ts';
import { closeConnectionsAfterLastAnswer } from './close-connections.ts';
import { decodeBody } from './content-encoding.ts';
import { type ApiDeps, MESSAGE_BODY_LIMIT } from './deps.ts';
import { ApiError } from './errors.ts';
import { LingeringSockets } from './linger.ts';
import { toApiError } from './map-errors.ts';
import { registerRoutes } from './routes/index.ts';
import { ErrorComponent } from './schemas/error.ts';
import { boundedValidatorCompiler } from './validation-errors.ts';

function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const apiError =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new ApiError('request_timeout', 'the request did not arrive whole in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new ApiError('headers_too_large', 'the request headers are larger than 16 KiB')
        : new ApiError(
            'invalid_request',
            'the request is not valid HTTP (a URL must percent-encode spaces, non-ASCII and control characters)',
          );
  // A response already under way on this connection (pipelining) is not written into.
  const responding = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !responding?.headersSent) {
    const body = JSON.stringify(apiError.toBody());
    socket.write(
      `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The longest path parameter routed (Fastify's default); ids are far shorter. */
const MAX_PATH_PARAMETER = 100;

/** Builds the HTTP API without listening, so tests can use it with `inject()` or a real port. */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Request logs at thousands of requests per second cost more than they tell; errors are
    // logged below, and TEGAMI_LOG_LEVEL=debug shows requests.
    logController: new LogController({
      disableRequestLogging: !deps.logger.isLevelEnabled('debug'),
    }),
    bodyLimit: MESSAGE_BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER },
    // Validation errors become details in toApiError; Fastify's own message would join them all.
    schemaErrorFormatter: (_errors, part) => new Error(`the ${part} is invalid`),
    // Errors the router raises before any route runs (bad URL encoding, over-long path
    // parameters) get the same error shape as everything else. Fastify's own messages quote the
    // path half-decoded, markup included; ours say what is wrong without echoing it.
    frameworkErrors: (error, _request, reply) => {
      const apiError = new ApiError('invalid_request', routerRefusal(error.code));
      void (reply as unknown as FastifyReply).code(apiError.status).send(apiError.toBody());
    },
    // What Node's HTTP parser refuses before Fastify sees a request (characters a URL may not
    // hold unencoded, a broken request line, headers over the limit, a request too slow) gets
    // the same error shape too, instead of Fastify's own.
    clientErrorHandler: answerClientError,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // The client's address (console sign-ins take turns and lock per address) is the forwarded
    // one only behind proxies named as trusted: anyone can send `X-Forwarded-For`.
    ...(deps.trustedProxies && deps.trustedProxies.length > 0
      ? { trustProxy: deps.trustedProxies }
      : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Every request part is checked with unknown fields refused, no coercion, and a bounded
  // number of reported problems (validation-errors.ts).
  app.setValidatorCompiler(boundedValidatorCompiler);
  app.decorateRequest('apiKey', null);
  registerBodyParsers(app);

  app.addHook('preParsing', async (request, reply, payload) =>
    decodeBody(request, reply.raw, payload),
  );

  // Under /v1 a path with an empty part (a trailing slash, `//`) names no route: a path
  // parameter matches an empty part, so `GET /v1/messages/` was the message whose id is "", and
  // `PUT /v1/messages/` a 405. It is a 404 as any path that does not exist (before the API key is
  // checked), naming the route without the trailing slash where there is one.
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (!path.startsWith('/v1/') || !/\/\/|\/$/.test(path)) return;
    const trimmed = path.slice(0, -1);
    const near =
      path.endsWith('/') &&
      !trimmed.endsWith('/') &&
      app.findRoute({ method: request.method as HTTPMethods, url: trimmed })
        ? ` (the route is ${request.method} ${trimmed})`
        : '';
    const error = new ApiError(
      'not_found',
      `no route for ${request.method} ${path}: a /v1 path has no empty part and no trailing slash${near}`,
    );
    return reply.status(404).send(error.toBody());
  });

  // PostgreSQL cannot hold U+0000 in text: a filter holding one was refused there and matched
  // nothing on SQLite. Refused alike on both, naming the parameter.
  app.addHook('preValidation', async (request) => {
    if (!request.url.startsWith('/v1/')) return;
    const query = request.query as Record<string, unknown> | undefined;
    const details = Object.entries(query ?? {})
      .filter(([, value]) => ([] as unknown[]).concat(value).some((v) => hasNul(v)))
      .map(([name]) => ({
        field: `querystring.${name}`,
        message: 'must not contain NUL (\\u0000) characters',
      }));
    if (details.length > 0) {
      throw new ApiError('invalid_request', 'the query is invalid; see details', details);
    }
  });

  // An answer sent before the body was read (413 from Content-Length, 401, 404) is followed by
  // reading and discarding the rest, within bounds, so the client can read the answer.
  const lingering = new LingeringSockets();
  app.addHook('onResponse', (request, _reply, done) => {
    if (!request.raw.complete) lingering.drainUnreadBody(request.raw);
    done();
  });
  app.addHook('preClose', (done) => {
    lingering.closeAll();
    done();
  });
  // A stop waits for the requests under way, not for their clients' keep-alive connections;
  // while draining, connections are closed after each answer already.
  closeConnectionsAfterLastAnswer(app, deps.draining);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tegami API',
        version: '1',
        description:
          'Submit transactional mail and follow what happened to it. Every `/v1` route refuses (400, naming each `querystring.<name>` or field) a query parameter it does not take, an empty or repeated query value, and body fields it does not take; a route without a request body takes none, or `{}`. Bodies are JSON in UTF-8 (415 otherwise). A method a path does not take is 405 with `Allow`; a path with an empty part (a trailing slash, `//`) is 404. An answer that makes something addressable (201, or 202 for a message or a recovery) has `Location`, the path to GET it. Every error is `#/components/schemas/Error` but on `/v3/mail/send`, which answers as SendGrid does. See docs/api-errors.md.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
    // Shared schemas (ErrorComponent) under their own names: `#/components/schemas/Error`.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  });
  app.addSchema(ErrorComponent);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error);
    // Fastify closes the connection after a body it did not read in full; closing with unread
    // data resets the connection and loses this answer. Keep it open and drain the rest instead.
    if (!request.raw.complete) reply.removeHeader('connection');
    // While the database is away every request fails: one line for the outage, not one each.
    // A statement timeout or a deadlock is this request's alone: logged with it, as a warning.
    if (apiError.code === 'database_unavailable' && deps.outage && failsEveryWrite(error)) {
      deps.outage.failed('answering requests', error);
    } else if (apiError.code === 'database_unavailable') {
      request.log.warn({ err: error }, 'request failed: the database gave up on it');
    } else if (
      apiError.status >= 500 &&
      !(apiError.code === 'storage_unavailable' && deps.outage) &&
      // A readiness probe saying "not ready" is its answer, not a failure (asked every second).
      apiError.code !== 'not_ready'
    ) {
      request.log.error({ err: error }, 'request failed');
    }
    // The database away: worth trying again soon, and clients that honour it wait a moment.
    if (apiError.code === 'database_unavailable' || apiError.code === 'storage_unavailable') {
      void reply.header('retry-after', '1');
    }
    void reply.status(apiError.status).send(apiError.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    // A path that exists with other methods: 405 naming them (`Allow`), instead of a 404 that
    // reads as if the path were wrong; OPTIONS too, which learns the methods from `Allow` without
    // a key, and gets no 2xx without one. (/v3 answers as SendGrid does.)
    const allowed = ROUTED_METHODS.filter((method) => app.findRoute({ method, url: path }));
    if (allowed.length > 0) {
      void reply.header('allow', allowed.join(', '));
      const error = new ApiError(
        'method_not_allowed',
        `${path} takes ${allowed.join(', ')}, not ${request.method}`,
      );
      return void reply.status(405).send(error.toBody());
    }
    // The sandbox's outbox is there only with the sandbox provider: say so, not "no route".
    const sandboxOff = !deps.sandbox && path === '/v1/sandbox/messages';
    const error = new ApiError(
      'not_found',
      sandboxOff
        ? `${path} exists only with TEGAMI_PROVIDER=sandbox; this process sends through ${deps.providers?.configured ?? 'another provider'}`
        : `no route for ${request.method} ${path}`,
    );
    void reply.status(404).send(error.toBody());
  });

  await registerRoutes(app, deps);
  return app;
}

/** The methods routes are registered with (HEAD with every GET). */
const ROUTED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** What the router refused, in words that do not repeat the request's path. */
function routerRefusal(code: string | undefined): string {
  if (code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return `a part of the path is longer than ${MAX_PATH_PARAMETER} characters; no id is that long`;
  }
  if (code === 'FST_ERR_BAD_URL') return 'the path is not valid percent-encoding';
  return 'the request could not be routed';
}

const hasNul = (value: unknown) => typeof value === 'string' && value.includes('\u0000');
