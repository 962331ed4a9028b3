import { Type } from '@sinclair/typebox';
import { parseIsoTime } from '../../../domain/operations/message-query.ts';
import { redeliverByHand } from '../../../domain/webhook-endpoints-by-hand.ts';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError, invalidField } from '../../errors.ts';
import { emptyBodyIsEmptyObject } from '../../request-parts.ts';
import { EndpointIdParamsSchema } from '../../schemas/webhook-endpoint.ts';
import { actorOf, scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const RedeliverBodySchema = Type.Object(
  {
    since: Type.Optional(
      Type.String({
        maxLength: 40,
        description:
          'Only deliveries created at or after this time (ISO 8601, UTC if no zone, as the list filters); default: all',
      }),
    ),
  },
  { additionalProperties: false },
);

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
      preValidation: emptyBodyIsEmptyObject,
    },
    async (request) => {
      const raw = request.body?.since;
      let since: number | null = null;
      if (raw !== undefined) {
        // Read as the list filters read a time (GET /v1/messages' created_after, ...): a time
        // without a zone is UTC, and a date that does not exist (2026-02-30) is refused.
        since = parseIsoTime(raw);
        if (Number.isNaN(since)) {
          throw invalidField('since', 'must be an ISO 8601 time, e.g. 2026-12-01T14:00:00Z');
        }
      }
      const endpoint = await store.find(request.params.id, scopeUnitId(request));
      const missing = () => new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      if (!endpoint) throw missing();
      const requeued = await redeliverByHand(store, actorOf(request), { endpoint, since }, clock());
      // Deleted by a request that came in between: as if it had come first.
      if (requeued === null) throw missing();
      return { requeued };
    },
  );
}
