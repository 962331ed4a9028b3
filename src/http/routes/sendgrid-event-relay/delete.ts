import { removeUnitEventRelay } from '../../../domain/sendgrid-compat/unit-event-relay.ts';
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
      const removed = await removeUnitEventRelay(
        options.store,
        actorOf(request),
        unit.id,
        options.clock(),
      );
      if (!removed) {
        throw new ApiError('not_found', `unit "${unit.name}" has no SendGrid event relay`);
      }
      void reply.code(204);
    },
  );
}
