import type { FastifyInstance } from 'fastify';
import { probeableProviders } from '../../domain/provider-health.ts';
import { backLabel, backPath } from '../back.ts';
import type { ConsoleDeps } from '../deps.ts';
import { html } from '../html.ts';
import { page } from '../layout.ts';
import { refusal, refusalNotice } from '../refusal.ts';
import { type Fields, stateOf } from '../session.ts';
import { withProbed } from './provider-hold.ts';

/**
 * Probe now, the paused-provider banner's button: what `POST /v1/providers/{name}/probe` does
 * (the workers try one message at once instead of at the next check), asked from the console so
 * that on-call need not leave it for curl in an incident, and recorded as `provider.probe` with
 * the console user as actor. Admins of every unit only, as the API takes admin keys only.
 */
export function registerProviderProbe(app: FastifyInstance, deps: ConsoleDeps): void {
  app.post(
    '/console/providers/:name/probe',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const { name } = request.params as { name: string };
      // Back to the page the button was on (the overview, unsent mail, a message) if `back` is a
      // page of this console; anything else (an address elsewhere) is not followed: the overview.
      const back = backPath((request.body as Fields).back) ?? '/console';
      const known = probeableProviders(
        deps.providers.configured,
        await deps.providers.health.list(),
      );
      if (!known.includes(name)) {
        const why = refusal(
          'probe-error',
          `No provider of this deployment is named so: a probe can be asked for ${known.join(', ')}.`,
          [],
          'No probe was asked for.',
        );
        const body = html`${refusalNotice(why)}<p><a href="${back}">${backLabel(back)}</a></p>`;
        return reply
          .code(400)
          .type('text/html')
          .send(page('Probe now', state, body).text);
      }
      await deps.operations.requestProbe(state.scope, state.actor, name, known);
      return reply.redirect(`${withProbed(back, name)}#probe-requested`, 303);
    },
  );
}
