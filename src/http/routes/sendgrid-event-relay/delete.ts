import type { SendGridEventRelayOptions } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { ErrorSchema, NoContentSchema } from '../../schemas/error.ts';
import { RelayUnitQuerySchema } from '../../schemas/sendgrid-event-relay.ts';
import { actorOf } from '../../scope.ts';
import { relayUnit } from '../../sendgrid/relay-unit.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `DELETE /v1/sendgrid/event-relay`: stops relaying; events still queued are dropped. */
export function registerDeleteEventRelay(app: TypedApp, options: SendGridEventRelayOptions) {
  app.delete(
    '/sendgrid/event-relay',
    {
      schema: {
        querystring: RelayUnitQuerySchema,
        tags: ['sendgrid'],
        summary: "Stop relaying the unit's SendGrid events (its key pair is forgotten)",
        response: { 204: NoContentSchema, 404: ErrorSchema },
      },
    },
    async (request, reply) => {
      const unit = await relayUnit(
        request,
        options.operations,
        request.query.unit,
        'querystring.unit',
      );
      if (!(await options.store.remove(unit.id))) {
        throw new ApiError('not_found', `unit "${unit.name}" has no SendGrid event relay`);
      }
      await options.operations.record(actorOf(request), 'sendgrid_event_relay.delete', {
        unitId: unit.id,
        target: unit.id,
      });
      void reply.code(204);
    },
  );
}
