import type { FastifyInstance } from 'fastify';
import { redeliverByHand } from '../../../../domain/webhook-endpoints-by-hand.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { qs } from '../../../html.ts';
import { ConsoleError, type Fields, stateOf, unitIdOf } from '../../../session.ts';
import { endpointsCursor, NO_ACTIVE_ENDPOINT } from './common.ts';

/**
 * `POST /console/webhooks/:id/redeliver`: an endpoint's failed status webhooks queued to be
 * posted again; the endpoints' page then says how many in its card (list.ts).
 */
export function registerRedeliver(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;
  app.post(
    '/console/webhooks/:id/redeliver',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const older = endpointsCursor((request.body as Fields).older);
      const endpoint = await deps.webhooks.find(id, unitIdOf(state));
      if (!endpoint) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      const n = await redeliverByHand(
        deps.webhooks,
        state.actor,
        { endpoint, since: null },
        clock(),
      );
      // Deleted by a request that came in between: as if it had come first.
      if (n === null) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      // Back on the page it was on, which draws its card: endpoints created since come before it.
      return reply.redirect(
        `/console/webhooks${qs({ older, redelivered: id, count: n })}#endpoint-${id}`,
        303,
      );
    },
  );
}
