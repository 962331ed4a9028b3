import type { FastifyInstance } from 'fastify';
import { MAX_PREVIOUS_SECRET_SECONDS } from '../../../../domain/status-webhooks.ts';
import { rotateSecretByHand } from '../../../../domain/webhook-endpoints-by-hand.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html, time } from '../../../html.ts';
import { page } from '../../../layout.ts';
import { ConsoleError, type Fields, stateOf, unitIdOf } from '../../../session.ts';
import { endpointsCursor, endpointsPageAt, NO_ACTIVE_ENDPOINT } from './common.ts';

/**
 * `POST /console/webhooks/:id/rotate-secret`: an endpoint's new secret, shown once, the old one
 * signing too for the window chosen on the endpoints' page.
 */
export function registerRotateSecret(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;
  app.post(
    '/console/webhooks/:id/rotate-secret',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const form = request.body as Fields;
      const older = endpointsCursor(form.older);
      const raw = String(form.keep_previous_for_seconds ?? '');
      // As POST /v1/webhook-endpoints/{id}/rotate-secret; the form offers a few windows only.
      const keepSeconds = /^[0-9]{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(keepSeconds >= 0 && keepSeconds <= MAX_PREVIOUS_SECRET_SECONDS)) {
        throw new ConsoleError(
          400,
          `keep_previous_for_seconds: 0 to ${MAX_PREVIOUS_SECRET_SECONDS} seconds`,
        );
      }
      const endpoint = await rotateSecretByHand(
        deps.webhooks,
        state.actor,
        { id, unitId: unitIdOf(state), keepPreviousSeconds: keepSeconds },
        clock(),
      );
      if (!endpoint) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      const until =
        endpoint.previousSecretExpiresAt === null
          ? html`The previous secret no longer signs anything.`
          : html`The previous secret also signs every status webhook until ${time(endpoint.previousSecretExpiresAt)}: give the receiver the new one before then.`;
      const body = html`<div class="card notice" role="status"><p>Status webhooks to <strong>${endpoint.url}</strong> are signed with this new secret, shown only this once; keep it now:</p><pre data-new-secret>${endpoint.secret}</pre><p>${until}</p></div>
<p><a href="${endpointsPageAt(older, id)}">Back to the endpoints</a></p>`;
      return reply
        .type('text/html')
        .send(page('Secret rotated', state, body, '/console/webhooks').text);
    },
  );
}
