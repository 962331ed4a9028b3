import { Type } from '@sinclair/typebox';
import { generateWebhookSecret, WEBHOOK_EVENT_TYPES } from '../../../domain/status-webhooks.ts';
import { createEndpointByHand } from '../../../domain/webhook-endpoints-by-hand.ts';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { invalidField } from '../../errors.ts';
import { setLocation, withLocation } from '../../location.ts';
import { endpointUnitNames, presentEndpoint } from '../../present/webhook-endpoint.ts';
import { EndpointSchema } from '../../schemas/webhook-endpoint.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

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

/** `POST /v1/webhook-endpoints`: the answer shows the endpoint's secret, once. */
export function registerCreateWebhookEndpoint(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store, clock } = options;
  app.post(
    '/webhook-endpoints',
    {
      schema: {
        body: CreateBodySchema,
        tags: ['webhooks'],
        summary: 'Register an endpoint for status webhooks; the answer shows its secret once',
        description:
          'Answers 201 with the endpoint and its secret, and `Location: /v1/webhook-endpoints/{id}` (read back there without the secret).',
        response: { 201: withLocation(CreatedSchema, '/v1/webhook-endpoints/{id}') },
      },
    },
    async (request, reply) => {
      const { url, events } = request.body;
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalidField('url', 'is not a valid URL');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw invalidField('url', 'must be an http or https URL');
      if (parsed.username || parsed.password)
        throw invalidField('url', 'must not contain a user name or password');
      const scope = scopeOf(request);
      let unitId = request.apiKey?.unitId ?? '';
      let allUnits = scope.kind === 'all';
      if (request.body.unit !== undefined) {
        const unit = await options.operations?.findUnit(request.body.unit);
        // A unit key may name only its own unit; any other name is "no such unit" for it.
        if (!unit || (scope.kind === 'unit' && unit.id !== scope.unitId))
          throw invalidField('unit', `no unit is named "${request.body.unit}"`);
        unitId = unit.id;
        allUnits = false;
      }
      const refused = await options.checkDestination(parsed.toString());
      if (refused) throw invalidField('url', refused);
      const secret = request.body.secret ?? generateWebhookSecret();
      const endpoint = await createEndpointByHand(store, actorOf(request), {
        url: parsed.toString(),
        events,
        secret,
        now: clock(),
        unitId,
        allUnits,
      });
      void reply.code(201);
      setLocation(reply, `/v1/webhook-endpoints/${endpoint.id}`);
      return {
        ...presentEndpoint(
          endpoint,
          await endpointUnitNames(options.operations, [endpoint]),
          endpoint.createdAt,
        ),
        secret: endpoint.secret,
      };
    },
  );
}
