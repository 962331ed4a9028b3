import type { FastifyRequest } from 'fastify';
import type {
  WebhookDelivery,
  WebhookEndpoint,
} from '../../../../domain/ports/status-webhook-store.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html, qs, time } from '../../../html.ts';
import { olderThanCursor } from '../../../page-link.ts';
import { ConsoleError, stateOf, unitIdOf } from '../../../session.ts';
import { webhookProgress } from '../../words.ts';

/** A status webhook endpoint that is not there, or not one of this user's units'. */
const NO_ENDPOINT = 'No such status webhook endpoint among those you manage.';

/** An endpoint to act on that is not there, or deleted: only an active one is changed. */
export const NO_ACTIVE_ENDPOINT =
  'No such status webhook endpoint, or it was deleted: a deleted endpoint is not changed any more. Its log is under Deleted endpoints on the Status webhooks page.';

/**
 * Status webhooks: when, which event about which message, and what came of posting it (posts so
 * far, as the message's timeline counts them, and the receiver's last answer). One posted again
 * by hand says when it was queued again, and its answer from before, until the next post.
 */
export function deliveryTable(entries: WebhookDelivery[]) {
  return html`<table class="list compact"><thead><tr><th>Created</th><th>Event</th><th>Message</th><th>Status</th><th>Posts</th><th>Last answer</th></tr></thead>
<tbody>${entries.map((d) => {
    const { state, answer } = webhookProgress(d);
    return html`<tr><td>${time(d.createdAt)}</td><td>${d.eventType}</td><td>${d.messageId ? html`<a href="/console/messages/${d.messageId}"><code>${d.messageId}</code></a>` : ''}</td><td>${state}</td><td>${d.attempts}${d.requeuedAt === null ? '' : ' since then'}</td><td class="wrap">${answer}</td></tr>`;
  })}</tbody></table>`;
}

/** Deleted endpoints, each with its unit, when it was deleted and a link to its log. */
export function deletedList(deleted: WebhookEndpoint[], unitName: (e: WebhookEndpoint) => string) {
  return html`<ul id="deleted-endpoints">${deleted.map((e) => html`<li><code>${e.url}</code> · ${unitName(e)} · deleted ${time(e.deletedAt)} · <a href="/console/webhooks/${e.id}/deliveries">its log →</a></li>`)}</ul>`;
}

/** Endpoints' units as a page says them: "every unit", or "unit hotel". */
export async function unitWords(deps: ConsoleDeps, endpoints: WebhookEndpoint[]) {
  const names = await deps.operations.unitNames(endpoints.map((e) => e.unitId));
  return (e: WebhookEndpoint) =>
    e.allUnits ? 'every unit' : `unit ${names.get(e.unitId) ?? e.unitId}`;
}

/**
 * The signed-in user and the endpoint the path's `:id` names, deleted ones too (their logs stay
 * readable), among those the user manages: or 404.
 */
export async function endpointOfPath(deps: ConsoleDeps, request: FastifyRequest) {
  const state = stateOf(request);
  const { id } = request.params as { id: string };
  const endpoint = await deps.webhooks.find(id, unitIdOf(state), { deleted: true });
  if (!endpoint) throw new ConsoleError(404, NO_ENDPOINT);
  return { state, id, endpoint };
}

/**
 * The cursor `older` of the endpoints' page, or of a form or link on it: undefined on the first
 * page. Only its shape is checked (a link no page made is a 400): endpoints are listed by id, so
 * the id of one deleted since still names a place in the list.
 */
export const endpointsCursor = (older: string | undefined) =>
  olderThanCursor(older, 'whk', 'status webhook endpoints');

/** The endpoints' page the cursor `older` names, at an endpoint's card. */
export const endpointsPageAt = (older: string | undefined, id: string) =>
  `/console/webhooks${qs({ older })}#endpoint-${id}`;
