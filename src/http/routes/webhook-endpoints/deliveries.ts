import { Type } from '@sinclair/typebox';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError, invalidField } from '../../errors.ts';
import {
  integer,
  integerOrNull,
  isoTime,
  isoTimeOrNull,
  text,
  textOrNull,
} from '../../present/values.ts';
import { EndpointIdParamsSchema } from '../../schemas/webhook-endpoint.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

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

/** `GET /v1/webhook-endpoints/{id}/deliveries`: the endpoint's delivery log, newest first. */
export function registerWebhookEndpointDeliveries(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store } = options;
  app.get(
    '/webhook-endpoints/:id/deliveries',
    {
      schema: {
        params: EndpointIdParamsSchema,
        querystring: DeliveriesQuerySchema,
        tags: ['webhooks'],
        summary: "The endpoint's delivery log, newest first",
        response: { 200: Type.Object({ data: Type.Array(DeliverySchema) }) },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 100);
      if (limit < 1 || limit > 1000) throw invalidField('querystring.limit', 'must be 1 to 1000');
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
}
