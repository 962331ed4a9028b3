import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../domain/operations/service.ts';
import type {
  StatusWebhookStore,
  WebhookEndpoint,
} from '../../domain/ports/status-webhook-store.ts';
import { WEBHOOK_EVENT_TYPES } from '../../domain/status-webhooks.ts';
import { ApiError } from '../errors.ts';
import {
  integer,
  integerOrNull,
  isoTime,
  isoTimeOrNull,
  stringArray,
  text,
  textOrNull,
} from '../present/values.ts';
import { actorOf, scopeOf, scopeUnitId } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';

export interface WebhookEndpointsOptions {
  store: StatusWebhookStore;
  /** Units (an admin may create an endpoint for one unit) and the audit log. */
  operations?: OperationsService;
  /** Why a URL's destination is refused (private or loopback), or null. */
  checkDestination: (url: string) => Promise<string | null>;
  clock: () => number;
}

const EndpointSchema = Type.Object({
  id: Type.String(),
  unit: Type.Union([Type.String(), Type.Null()], {
    description: "the unit whose events it receives; null: every unit's (made with an admin key)",
  }),
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
    unit: Type.Optional(
      Type.String({
        maxLength: 63,
        description:
          "Admin keys only: receive this unit's events only. Without it an admin key's endpoint receives every unit's; a unit key's, its own unit's.",
      }),
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

const present = (e: WebhookEndpoint, units: Map<string, string>) => ({
  id: text(e.id),
  unit: e.allUnits ? null : (units.get(e.unitId) ?? e.unitId),
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
  const unitNames = async (endpoints: WebhookEndpoint[]) =>
    (await options.operations?.unitNames(endpoints.map((e) => e.unitId))) ??
    new Map<string, string>();

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
      const scope = scopeOf(request);
      let unitId = request.apiKey?.unitId ?? '';
      let allUnits = scope.kind === 'all';
      if (request.body.unit !== undefined) {
        const unit = await options.operations?.findUnit(request.body.unit);
        // A unit key may name only its own unit; any other name is "no such unit" for it.
        if (!unit || (scope.kind === 'unit' && unit.id !== scope.unitId))
          throw invalid('unit', `no unit is named "${request.body.unit}"`);
        unitId = unit.id;
        allUnits = false;
      }
      const refused = await options.checkDestination(parsed.toString());
      if (refused) throw invalid('url', refused);
      const secret = request.body.secret ?? randomBytes(32).toString('base64url');
      const endpoint = await store.create({
        url: parsed.toString(),
        events,
        secret,
        now: clock(),
        unitId,
        allUnits,
      });
      await options.operations?.record(actorOf(request), 'webhook_endpoint.create', {
        unitId: allUnits ? null : unitId,
        target: endpoint.id,
        filter: { url: endpoint.url, events: endpoint.events },
      });
      void reply.code(201);
      return { ...present(endpoint, await unitNames([endpoint])), secret: endpoint.secret };
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
    async (request) => {
      const endpoints = await store.list(scopeUnitId(request));
      const units = await unitNames(endpoints);
      return { data: endpoints.map((e) => present(e, units)) };
    },
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
      const endpoint = await store.find(request.params.id, scopeUnitId(request));
      if (!endpoint || !(await store.disable(endpoint.id, clock(), scopeUnitId(request))))
        throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      await options.operations?.record(actorOf(request), 'webhook_endpoint.delete', {
        unitId: endpoint.allUnits ? null : endpoint.unitId,
        target: endpoint.id,
      });
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
      if (!(await store.find(request.params.id, scopeUnitId(request))))
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
      const endpoint = await store.find(request.params.id, scopeUnitId(request));
      if (!endpoint) throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      const requeued = await store.redeliver(endpoint.id, since, clock());
      await options.operations?.record(actorOf(request), 'webhook_endpoint.redeliver', {
        unitId: endpoint.allUnits ? null : endpoint.unitId,
        target: endpoint.id,
        filter: since === null ? null : { since: new Date(since).toISOString() },
        counts: { requeued },
      });
      return { requeued };
    },
  );
}
