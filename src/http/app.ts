import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { hashApiKey } from '../domain/api-keys.ts';
import { OperationsError } from '../domain/operations/errors.ts';
import type { OperationsService } from '../domain/operations/service.ts';
import type { ApiKeyRecord } from '../domain/ports/api-key-store.ts';
import type { TimelineEntry } from '../domain/ports/delivery-event-store.ts';
import type { MessageStore } from '../domain/ports/message-store.ts';
import type { SandboxView } from '../domain/ports/sandbox-outbox.ts';
import type { SuppressionStore } from '../domain/ports/suppression-store.ts';
import type { OutageLog } from '../ops/outage-log.ts';
import { ApiError } from './errors.ts';
import { parseJsonBody } from './json-body.ts';
import { LingeringSockets } from './linger.ts';
import { registerAuditRoutes } from './routes/audit-events.ts';
import { type EventWebhookOptions, registerEventWebhook } from './routes/event-webhook.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMessageRoutes } from './routes/messages.ts';
import { registerProviderProbeRoute } from './routes/provider-probe.ts';
import { type ProviderView, registerProviderRoutes } from './routes/providers.ts';
import { registerRecoveryRoutes } from './routes/recoveries.ts';
import { registerSandboxRoutes } from './routes/sandbox.ts';
import { registerSuppressionRoutes } from './routes/suppressions.ts';
import { registerUnitRoutes } from './routes/units.ts';
import { registerUnsentRoutes } from './routes/unsent.ts';
import {
  registerWebhookEndpointRoutes,
  type WebhookEndpointsOptions,
} from './routes/webhook-endpoints.ts';
import { toApiErrorFromOperations } from './scope.ts';
import { boundedValidatorCompiler, schemaErrorDetails } from './validation-errors.ts';

/** One message: 10 MiB of JSON holds a message with ~7 MiB of attachments. */
export const MESSAGE_BODY_LIMIT = 10 * 1024 * 1024;
/** A batch of up to 1,000 messages. */
export const BATCH_BODY_LIMIT = 50 * 1024 * 1024;

export interface ApiDeps {
  messages: MessageStore;
  /** Looks up the active API key a request presents, by the key's SHA-256 hash. */
  findApiKey: (keyHash: string) => Promise<ApiKeyRecord | null>;
  /** The sandbox outbox; null hides `/v1/sandbox/messages` (for providers that keep none). */
  sandbox: SandboxView | null;
  readiness: () => Promise<{ ready: boolean; reason?: string }>;
  /** Providers' delivery events (SendGrid's Event Webhook); none when no source is configured. */
  eventWebhooks?: EventWebhookOptions[];
  /** Sent this long ago with no delivery event: "unconfirmed" (default 30 minutes). */
  unconfirmedAfterMs?: number;
  /** Recipients (to + cc + bcc) of all messages of one batch together; TEGAMI_BATCH_MAX_RECIPIENTS. */
  batchMaxRecipients?: number;
  /** Delivery events per message, for `GET /v1/messages/{id}`. */
  timeline?: (messageId: string) => Promise<TimelineEntry[]>;
  /** The suppression list for `/v1/suppressions`; optional for tests of other routes. */
  suppressions?: SuppressionStore;
  /** Status webhooks (`/v1/webhook-endpoints`); optional for tests of other routes. */
  webhookEndpoints?: WebhookEndpointsOptions;
  /** Provider health for `GET /v1/providers`; optional for tests of other routes. */
  providers?: ProviderView;
  /** Units, the unsent view, recoveries, the audit log (src/domain/operations/). */
  operations: OperationsService;
  /** Called after messages were accepted, so an in-process worker can start at once. */
  onAccepted?: () => void;
  logger: Logger;
  /** Logs database failures as state changes instead of one line per failed request. */
  outage?: OutageLog;
  clock?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyRecord | null;
  }
}

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
    // Validation errors become details in toApiError; Fastify's own message would join them all.
    schemaErrorFormatter: (_errors, part) => new Error(`the ${part} is invalid`),
    // Errors the router raises before any route runs (bad URL encoding, over-long path
    // parameters) get the same error shape as everything else.
    frameworkErrors: (error, _request, reply) => {
      const apiError = new ApiError('invalid_request', error.message);
      void (reply as unknown as FastifyReply).code(apiError.status).send(apiError.toBody());
    },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Every request part is checked with unknown fields refused, no coercion, and a bounded
  // number of reported problems (src/api/validation-errors.ts).
  app.setValidatorCompiler(boundedValidatorCompiler);
  app.decorateRequest('apiKey', null);
  // An empty body is no body: clients often send `Content-Type: application/json` on POST /cancel
  // and /retry without one. parseJsonBody names a `__proto__` key instead of calling it malformed.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') {
      done(null, undefined);
      return;
    }
    let parsed: unknown;
    try {
      parsed = parseJsonBody(body as string);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    done(null, parsed);
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

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tegami API',
        version: '1',
        description: 'Submit transactional mail and follow what happened to it.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error);
    // Fastify closes the connection after a body it did not read in full; closing with unread
    // data resets the connection and loses this answer. Keep it open and drain the rest instead.
    if (!request.raw.complete) reply.removeHeader('connection');
    // While the database is away every request fails: one line for the outage, not one each.
    if (apiError.code === 'database_unavailable' && deps.outage) {
      deps.outage.failed('answering requests', error);
    } else if (
      apiError.status >= 500 &&
      !(apiError.code === 'storage_unavailable' && deps.outage)
    ) {
      request.log.error({ err: error }, 'request failed');
    }
    void reply.status(apiError.status).send(apiError.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError(
      'not_found',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    );
    void reply.status(404).send(error.toBody());
  });

  registerHealthRoutes(app, deps);
  for (const webhook of deps.eventWebhooks ?? []) await registerEventWebhook(app, webhook);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request) => {
        request.apiKey = await authenticate(request.headers.authorization, deps);
      });
      registerMessageRoutes(v1.withTypeProvider<TypeBoxTypeProvider>(), deps);
      registerUnitRoutes(v1.withTypeProvider<TypeBoxTypeProvider>(), deps.operations);
      registerUnsentRoutes(v1.withTypeProvider<TypeBoxTypeProvider>(), deps.operations);
      registerRecoveryRoutes(v1.withTypeProvider<TypeBoxTypeProvider>(), deps.operations);
      registerAuditRoutes(v1.withTypeProvider<TypeBoxTypeProvider>(), deps.operations);
      if (deps.sandbox)
        registerSandboxRoutes(v1.withTypeProvider<TypeBoxTypeProvider>(), deps.sandbox);
      if (deps.suppressions) {
        registerSuppressionRoutes(
          v1.withTypeProvider<TypeBoxTypeProvider>(),
          deps.suppressions,
          deps.clock ?? Date.now,
          deps.operations,
        );
      }
      if (deps.webhookEndpoints) {
        registerWebhookEndpointRoutes(
          v1.withTypeProvider<TypeBoxTypeProvider>(),
          deps.webhookEndpoints,
        );
      }
      if (deps.providers) {
        registerProviderRoutes(
          v1.withTypeProvider<TypeBoxTypeProvider>(),
          deps.providers,
          deps.clock ?? Date.now,
        );
        registerProviderProbeRoute(
          v1.withTypeProvider<TypeBoxTypeProvider>(),
          deps.operations,
          deps.providers,
        );
      }
    },
    { prefix: '/v1' },
  );
  return app;
}

async function authenticate(header: string | undefined, deps: ApiDeps): Promise<ApiKeyRecord> {
  const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) {
    throw new ApiError('unauthorized', 'send your API key as "Authorization: Bearer <key>"');
  }
  const key = await deps.findApiKey(hashApiKey(match[1]));
  if (!key) throw new ApiError('unauthorized', 'unknown or revoked API key');
  return key;
}

function toApiError(error: FastifyError): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof OperationsError) return toApiErrorFromOperations(error);
  if (error.validation) {
    const where = error.validationContext === 'body' ? '' : `${error.validationContext ?? ''}.`;
    const details = schemaErrorDetails(
      error.validation.map((v) => ({ ...v, message: v.message ?? 'is invalid' })),
    ).map((d) => ({
      ...d,
      field: d.field === '(body)' && where ? where.slice(0, -1) : `${where}${d.field}`,
    }));
    return new ApiError('invalid_request', 'the request is invalid; see details', details);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('malformed_json', error.message);
  }
  if (error instanceof SyntaxError)
    return new ApiError('malformed_json', `malformed JSON: ${error.message}`);
  if (hasNulCharacter(error)) {
    return new ApiError('invalid_request', 'text must not contain NUL (\\u0000) characters');
  }
  if (isDatabaseUnavailable(error)) {
    return new ApiError('database_unavailable', 'the database is unreachable; retry later');
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return new ApiError('payload_too_large', error.message);
  if (status === 415) return new ApiError('unsupported_media_type', error.message);
  if (status >= 400 && status < 500) return new ApiError('invalid_request', error.message);
  return new ApiError('internal_error', 'internal error; nothing was changed');
}

/**
 * Connection-level failures (PostgreSQL down or restarting, SQLite busy past its timeout): the
 * request may succeed later, so they are a 503, not a 500.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  'SQLITE_BUSY',
]);

function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return (
    typeof message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect/i.test(message)
  );
}

/** PostgreSQL cannot store U+0000 in text: a client error, whichever field it came in. */
export function hasNulCharacter(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return code === '22021' || code === '22P05';
}
