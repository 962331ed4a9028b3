import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { WEBHOOK_EVENT_TYPES } from '../../domain/webhooks.ts';
import type { SqlWebhookStore, WebhookEndpoint } from '../../store/sql-webhook-store.ts';
import { ApiError } from '../error-codes.ts';
import {
  integer,
  integerOrNull,
  isoTime,
  isoTimeOrNull,
  stringArray,
  text,
  textOrNull,
} from '../present-values.ts';
import type { TypedApp } from '../typed-app.ts';

export interface WebhookEndpointsOptions {
  store: SqlWebhookStore;
  /** Why a URL's destination is refused (private or loopback), or null. */
  checkDestination: (url: string) => Promise<string | null>;
  clock: () => number;
}

const EndpointSchema = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  created_at: Type.String(),
});

const CreatedSchema = Type.Object({
  ...EndpointSchema.properties,
  secret: Type.String({ description: 'Shown only here: signs every delivery (HMAC-SHA256).' }),
});

const CreateBodySchema = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'An http or https URL' }),
    events: Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t))), {
      minItems: 1,
      maxItems: WEBHOOK_EVENT_TYPES.length,
      uniqueItems: true,
    }),
    secret: Type.Optional(
      Type.String({ minLength: 16, maxLength: 256, description: 'Generated when absent' }),
    ),
  },
  { additionalProperties: false },
);

const IdParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) });

const DeliveriesQuerySchema = Type.Object(
  {
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 100' }),
    ),
  },
  { additionalProperties: false },
);

const DeliverySchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.String({ description: 'pending, delivered or failed' }),
  attempts: Type.Number(),
  last_status: Type.Union([Type.Number(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  next_attempt_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  delivered_at: Type.Union([Type.String(), Type.Null()]),
});

const RedeliverBodySchema = Type.Object(
  {
    since: Type.Optional(
      Type.String({
        maxLength: 40,
        description: 'Only deliveries created at or after this time (ISO 8601); default: all',
      }),
    ),
  },
  { additionalProperties: false },
);

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

const present = (e: WebhookEndpoint) => ({
  id: text(e.id),
  url: text(e.url),
  events: stringArray(e.events),
  created_at: isoTime(e.createdAt),
});

function invalid(field: string, message: string): ApiError {
  return new ApiError('invalid_request', 'the request is invalid; see details', [
    { field, message },
  ]);
}

/** Status webhooks: applications register endpoints and read each one's delivery log. */
export function registerWebhookEndpointRoutes(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;

  app.post(
    '/webhook-endpoints',
    {
      schema: {
        body: CreateBodySchema,
        tags: ['webhooks'],
        summary: 'Register an endpoint for status webhooks; the answer shows its secret once',
        response: { 201: CreatedSchema },
      },
    },
    async (request, reply) => {
      const { url, events } = request.body;
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalid('url', 'is not a valid URL');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw invalid('url', 'must be an http or https URL');
      if (parsed.username || parsed.password)
        throw invalid('url', 'must not contain a user name or password');
      const refused = await options.checkDestination(parsed.toString());
      if (refused) throw invalid('url', refused);
      const secret = request.body.secret ?? randomBytes(32).toString('base64url');
      const endpoint = await store.create({ url: parsed.toString(), events, secret, now: clock() });
      void reply.code(201);
      return { ...present(endpoint), secret: endpoint.secret };
    },
  );

  app.get(
    '/webhook-endpoints',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Registered endpoints, newest first (secrets are not shown)',
        response: { 200: Type.Object({ data: Type.Array(EndpointSchema) }) },
      },
    },
    async () => ({ data: (await store.list()).map(present) }),
  );

  app.delete(
    '/webhook-endpoints/:id',
    {
      schema: {
        params: IdParamsSchema,
        tags: ['webhooks'],
        summary: 'Delete an endpoint: nothing more is posted to it',
      },
    },
    async (request, reply) => {
      if (!(await store.disable(request.params.id, clock())))
        throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      void reply.code(204);
    },
  );

  app.get(
    '/webhook-endpoints/:id/deliveries',
    {
      schema: {
        params: IdParamsSchema,
        querystring: DeliveriesQuerySchema,
        tags: ['webhooks'],
        summary: "The endpoint's delivery log, newest first",
        response: { 200: Type.Object({ data: Type.Array(DeliverySchema) }) },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 100);
      if (limit < 1 || limit > 1000) throw invalid('querystring.limit', 'must be 1 to 1000');
      if (!(await store.find(request.params.id)))
        throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      const rows = await store.deliveries(request.params.id, limit);
      return {
        data: rows.map((d) => ({
          id: text(d.id),
          type: text(d.eventType),
          status: text(d.status),
          attempts: integer(d.attempts),
          last_status: integerOrNull(d.lastStatus),
          last_error: textOrNull(d.lastError),
          next_attempt_at: d.status === 'pending' ? isoTimeOrNull(d.nextAttemptAt) : null,
          created_at: isoTime(d.createdAt),
          delivered_at: isoTimeOrNull(d.deliveredAt),
        })),
      };
    },
  );

  app.post(
    '/webhook-endpoints/:id/redeliver',
    {
      schema: {
        params: IdParamsSchema,
        body: RedeliverBodySchema,
        tags: ['webhooks'],
        summary:
          "Send the endpoint's failed deliveries again (after the application was down longer than the retry window)",
        response: { 200: Type.Object({ requeued: Type.Number() }) },
      },
      // The body is optional: a bare POST redelivers everything failed.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const raw = request.body?.since;
      let since: number | null = null;
      if (raw !== undefined) {
        since = ISO_TIME.test(raw) ? Date.parse(raw) : Number.NaN;
        if (Number.isNaN(since)) throw invalid('since', 'must be an ISO 8601 time');
      }
      if (!(await store.find(request.params.id)))
        throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      return { requeued: await store.redeliver(request.params.id, since, clock()) };
    },
  );
}
