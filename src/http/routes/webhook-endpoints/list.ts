import { Type } from '@sinclair/typebox';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { endpointUnitNames, presentEndpoint } from '../../present/webhook-endpoint.ts';
import { EndpointSchema } from '../../schemas/webhook-endpoint.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/webhook-endpoints`: secrets are not shown. */
export function registerListWebhookEndpoints(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;
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
      const units = await endpointUnitNames(options.operations, endpoints);
      const now = clock();
      return { data: endpoints.map((e) => presentEndpoint(e, units, now)) };
    },
  );
}
