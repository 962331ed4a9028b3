import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { endpointUnitNames, presentEndpoint } from '../../present/webhook-endpoint.ts';
import { EndpointIdParamsSchema, EndpointSchema } from '../../schemas/webhook-endpoint.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/**
 * `GET /v1/webhook-endpoints/{id}`: one endpoint as the list shows it (no secret), where the
 * `Location` of its creation points. A deleted one is gone here as from the list (404); its log
 * stays readable at `/deliveries`.
 */
export function registerGetWebhookEndpoint(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;
  app.get(
    '/webhook-endpoints/:id',
    {
      schema: {
        params: EndpointIdParamsSchema,
        tags: ['webhooks'],
        summary: 'One endpoint, as the list shows it (the secret is not shown)',
        response: { 200: EndpointSchema },
      },
    },
    async (request) => {
      const endpoint = await store.find(request.params.id, scopeUnitId(request));
      if (!endpoint) throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      const units = await endpointUnitNames(options.operations, [endpoint]);
      return presentEndpoint(endpoint, units, clock());
    },
  );
}
