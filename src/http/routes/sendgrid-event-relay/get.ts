import type { SendGridEventRelayOptions } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { presentEventRelay } from '../../present/sendgrid-event-relay.ts';
import { MessageErrorResponses } from '../../schemas/error.ts';
import { EventRelaySchema, RelayUnitQuerySchema } from '../../schemas/sendgrid-event-relay.ts';
import { relayUnit } from '../../sendgrid/relay-unit.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/sendgrid/event-relay`: the unit's relay, its public key and its queue. */
export function registerGetEventRelay(app: TypedApp, options: SendGridEventRelayOptions) {
  app.get(
    '/sendgrid/event-relay',
    {
      schema: {
        querystring: RelayUnitQuerySchema,
        tags: ['sendgrid'],
        summary: "The unit's SendGrid event relay and its verification key",
        response: { 200: EventRelaySchema, ...MessageErrorResponses },
      },
    },
    async (request) => {
      const unit = await relayUnit(
        request,
        options.operations,
        request.query.unit,
        'querystring.unit',
      );
      const relay = await options.store.get(unit.id);
      if (!relay)
        throw new ApiError('not_found', `unit "${unit.name}" has no SendGrid event relay`);
      return presentEventRelay(relay, unit.name, await options.store.counts(unit.id));
    },
  );
}
