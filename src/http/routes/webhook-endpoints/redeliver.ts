import { Type } from '@sinclair/typebox';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError, invalidField } from '../../errors.ts';
import { EndpointIdParamsSchema } from '../../schemas/webhook-endpoint.ts';
import { actorOf, scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

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

/**
 * `POST /v1/webhook-endpoints/{id}/redeliver`: the endpoint's failed deliveries again, after the
 * application was down longer than the retry window.
 */
export function registerRedeliverWebhookEndpoint(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;
  app.post(
    '/webhook-endpoints/:id/redeliver',
    {
      schema: {
        params: EndpointIdParamsSchema,
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
        if (Number.isNaN(since)) throw invalidField('since', 'must be an ISO 8601 time');
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
