import type { FastifyInstance } from 'fastify';
import { count, oneOrMany } from '../../../../domain/count-words.ts';
import { deleteEndpointByHand } from '../../../../domain/webhook-endpoints-by-hand.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html, qs } from '../../../html.ts';
import { csrf, page } from '../../../layout.ts';
import { type Fields, unitIdOf } from '../../../session.ts';
import { endpointOfPath, endpointsCursor, endpointsPageAt, unitWords } from './common.ts';

/** Pending status webhooks counted on the page that asks before deleting their endpoint. */
const PENDING_COUNTED = 1000;

/**
 * `GET` and `POST /console/webhooks/:id/delete`: deleting asks first, on a page of its own (as a
 * recovery's dry run does): one click on the endpoints' page deletes nothing, with or without
 * JavaScript.
 */
export function registerDelete(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;
  app.get(
    '/console/webhooks/:id/delete',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      // The endpoints' page the link was on, for Back and for the answer.
      const older = endpointsCursor((request.query as Fields).older);
      const { state, id, endpoint } = await endpointOfPath(deps, request);
      // Deleted already (someone else was first, or Back after deleting): its log says so.
      if (endpoint.deletedAt !== null) {
        return reply.redirect(`/console/webhooks/${id}/deliveries`, 303);
      }
      const unit = (await unitWords(deps, [endpoint]))(endpoint);
      // Counted up to one more than said: "more than 1,000" rather than a long backlog's count.
      const pending = await deps.webhooks.countPending(id, PENDING_COUNTED + 1);
      const many = pending > PENDING_COUNTED;
      const waiting =
        pending === 0
          ? html`No status webhook to it is waiting to be posted.`
          : html`<strong>${many ? `More than ${count(PENDING_COUNTED, 'status webhook')}` : count(pending, 'status webhook')} still waiting to be posted to it ${oneOrMany(pending, 'is', 'are')} never posted</strong>: ${oneOrMany(pending, 'it is', 'they are')} marked failed (“endpoint deleted”).`;
      const body = html`<p><a href="${endpointsPageAt(older, id)}">← Back to the endpoints</a></p>
<section class="card" id="confirm-delete"><p>Delete the endpoint <strong>${endpoint.url}</strong> (${unit}, events ${endpoint.events.join(', ')})?</p>
<p>Nothing more is posted to it. ${waiting} Its log stays readable, under Deleted endpoints, until retention removes it. A deleted endpoint cannot be brought back: one added again gets a new secret, which the application must be given.</p>
<form method="post" action="/console/webhooks/${id}/delete" class="inline">${csrf(state)}${older ? html`<input type="hidden" name="older" value="${older}">` : ''}<button type="submit" class="danger">Delete endpoint</button></form>
<a class="button secondary" href="${endpointsPageAt(older, id)}">Keep it</a></section>`;
      return reply
        .type('text/html')
        .send(page('Delete a status webhook endpoint', state, body, '/console/webhooks').text);
    },
  );

  app.post(
    '/console/webhooks/:id/delete',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const older = endpointsCursor((request.body as Fields).older);
      const { state, id } = await endpointOfPath(deps, request);
      // Deleted already (the button clicked twice, or someone else was first): nothing is
      // recorded, and the page shows it so, rather than an error about the second click.
      await deleteEndpointByHand(
        deps.webhooks,
        state.actor,
        { id, unitId: unitIdOf(state) },
        clock(),
      );
      // The page the endpoint was on, without it now.
      return reply.redirect(`/console/webhooks${qs({ older })}`, 303);
    },
  );
}
