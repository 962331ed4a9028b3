import { Type } from '@sinclair/typebox';
import {
  DEFAULT_PREVIOUS_SECRET_SECONDS,
  MAX_PREVIOUS_SECRET_SECONDS,
} from '../../../domain/status-webhooks.ts';
import { rotateSecretByHand } from '../../../domain/webhook-endpoints-by-hand.ts';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { endpointUnitNames, presentEndpoint } from '../../present/webhook-endpoint.ts';
import { emptyBodyIsEmptyObject } from '../../request-parts.ts';
import { EndpointIdParamsSchema, EndpointSchema } from '../../schemas/webhook-endpoint.ts';
import { actorOf, scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const RotateBodySchema = Type.Object(
  {
    keep_previous_for_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_PREVIOUS_SECRET_SECONDS,
        description: `How long the replaced secret still signs every post, next to the new one: 0 to ${MAX_PREVIOUS_SECRET_SECONDS} (7 days), default ${DEFAULT_PREVIOUS_SECRET_SECONDS} (24 hours). 0 stops it at once (a leaked secret).`,
      }),
    ),
  },
  { additionalProperties: false },
);

const RotatedSchema = Type.Object({
  ...EndpointSchema.properties,
  secret: Type.String({
    description: 'The new secret, shown only here: it signs every post from now on.',
  }),
});

/**
 * `POST /v1/webhook-endpoints/{id}/rotate-secret`: a new secret, shown once, with the replaced
 * one still signing posts for a window, so receivers can switch without rejecting any.
 */
export function registerRotateWebhookEndpointSecret(
  app: TypedApp,
  options: WebhookEndpointsOptions,
) {
  const { store, clock } = options;
  app.post(
    '/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        params: EndpointIdParamsSchema,
        body: RotateBodySchema,
        tags: ['webhooks'],
        summary:
          'Give the endpoint a new secret, shown once; the replaced one keeps signing posts for a window',
        response: { 200: RotatedSchema },
      },
      // The body is optional: a bare POST keeps the replaced secret for the default window.
      preValidation: emptyBodyIsEmptyObject,
    },
    async (request) => {
      const keepSeconds =
        request.body?.keep_previous_for_seconds ?? DEFAULT_PREVIOUS_SECRET_SECONDS;
      const now = clock();
      const endpoint = await rotateSecretByHand(
        store,
        actorOf(request),
        { id: request.params.id, unitId: scopeUnitId(request), keepPreviousSeconds: keepSeconds },
        now,
      );
      if (!endpoint) throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      return {
        ...presentEndpoint(endpoint, await endpointUnitNames(options.operations, [endpoint]), now),
        secret: endpoint.secret,
      };
    },
  );
}
