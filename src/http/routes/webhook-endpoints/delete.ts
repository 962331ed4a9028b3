import { deleteEndpointByHand } from '../../../domain/webhook-endpoints-by-hand.ts';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { NoContentSchema } from '../../schemas/error.ts';
import { EndpointIdParamsSchema } from '../../schemas/webhook-endpoint.ts';
import { actorOf, scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `DELETE /v1/webhook-endpoints/{id}`: nothing more is posted to it. */
export function registerDeleteWebhookEndpoint(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;
  app.delete(
    '/webhook-endpoints/:id',
    {
      schema: {
        params: EndpointIdParamsSchema,
        tags: ['webhooks'],
        summary: 'Delete an endpoint: nothing more is posted to it',
        response: { 204: NoContentSchema },
      },
    },
    async (request, reply) => {
      const deleted = await deleteEndpointByHand(
        store,
        actorOf(request),
        { id: request.params.id, unitId: scopeUnitId(request) },
        clock(),
      );
      if (!deleted) throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      void reply.code(204);
    },
  );
}
