import { Type } from '@sinclair/typebox';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { DEFAULT_PAGE, idCursor, limitParameter, pageOf, parseIdPage } from '../../paging.ts';
import { endpointUnitNames, presentEndpoint } from '../../present/webhook-endpoint.ts';
import { Nullable } from '../../schemas/parts.ts';
import { EndpointSchema } from '../../schemas/webhook-endpoint.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const ListQuerySchema = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'next_cursor of the previous page' }),
    ),
    limit: limitParameter(DEFAULT_PAGE),
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/webhook-endpoints`: newest first, secrets not shown, paged like the other lists
 * (`next_cursor` back as `cursor`: the `whk_…` id of the page's last endpoint). A unit key lists
 * its own unit's endpoints only.
 */
export function registerListWebhookEndpoints(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;
  app.get(
    '/webhook-endpoints',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Registered endpoints, newest first (secrets are not shown)',
        description:
          'Pass `next_cursor` back as `cursor` for the next page; it is null on the last page.',
        querystring: ListQuerySchema,
        response: {
          200: Type.Object({
            data: Type.Array(EndpointSchema),
            next_cursor: Nullable(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      const { limit, beforeId } = parseIdPage(request.query, 'whk');
      const endpoints = await store.list(scopeUnitId(request), {
        limit: limit + 1,
        ...(beforeId !== undefined ? { beforeId } : {}),
      });
      const { shown, nextCursor } = pageOf(endpoints, limit, (last) => idCursor(last.id));
      const units = await endpointUnitNames(options.operations, shown);
      const now = clock();
      return {
        data: shown.map((e) => presentEndpoint(e, units, now)),
        next_cursor: nextCursor,
      };
    },
  );
}
