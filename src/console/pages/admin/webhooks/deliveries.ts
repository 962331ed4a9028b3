import type { FastifyInstance } from 'fastify';
import { MESSAGE_ID, MESSAGE_ID_IN_WORDS } from '../../../../domain/ids.ts';
import {
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDeliveryStatus,
} from '../../../../domain/ports/status-webhook-store.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html, qs, time } from '../../../html.ts';
import { page } from '../../../layout.ts';
import { olderThanCursor } from '../../../page-link.ts';
import { ConsoleError } from '../../../session.ts';
import { deliveryTable, endpointOfPath } from './common.ts';

/**
 * Status webhooks per page of an endpoint's log: as many as a page of endpoints draws at most
 * (20 cards of 5, list.ts).
 */
const WEBHOOK_LOG_PAGE_SIZE = 100;

function isDeliveryStatus(value: string): value is WebhookDeliveryStatus {
  return (WEBHOOK_DELIVERY_STATUSES as readonly string[]).includes(value);
}

/**
 * `GET /console/webhooks/:id/deliveries`: an endpoint's whole log, newest first, a page at a
 * time, by status or message: what the application was sent about a booking, and what it
 * answered.
 */
export function registerDeliveriesPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get(
    '/console/webhooks/:id/deliveries',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      // A field given twice is one value that matches nothing, as a value mistyped.
      const query = request.query as Record<string, unknown>;
      const field = (name: string) => (query[name] === undefined ? '' : String(query[name]));
      const status = field('status') || undefined;
      const message = field('message').trim();
      const older = olderThanCursor(field('older'), 'whd', 'status webhooks');
      if (status !== undefined && !isDeliveryStatus(status))
        throw new ConsoleError(400, 'status: pending, delivered or failed');
      // A deleted endpoint's log too, until retention removes it: what was posted to it before.
      const { state, id, endpoint } = await endpointOfPath(deps, request);
      // A message id not understood is said above the form, which keeps what was typed.
      const badMessage = message !== '' && !MESSAGE_ID.test(message);
      const entries = badMessage
        ? []
        : await deps.webhooks.deliveries(id, {
            limit: WEBHOOK_LOG_PAGE_SIZE + 1,
            ...(older ? { beforeId: older } : {}),
            ...(status ? { status } : {}),
            ...(message ? { messageId: message } : {}),
          });
      const shown = entries.slice(0, WEBHOOK_LOG_PAGE_SIZE);
      const last = entries.length > WEBHOOK_LOG_PAGE_SIZE ? shown[shown.length - 1] : undefined;
      const filtered = status !== undefined || message !== '';
      const body = html`<p><a href="/console/webhooks">← Back to the endpoints</a></p>
<h2>Status webhooks to ${endpoint.url}, newest first</h2>
${endpoint.deletedAt !== null ? html`<div class="card notice" role="status" id="endpoint-deleted"><p>This endpoint was deleted ${time(endpoint.deletedAt)}: nothing has been posted to it since, and the status webhooks still pending then were marked failed (“endpoint deleted”). Its log is kept until retention removes it.</p></div>` : ''}
${badMessage ? html`<p class="error" role="alert" id="webhook-message-error">Message: ${MESSAGE_ID_IN_WORDS}.</p>` : ''}<form method="get" class="search inline-form">
<label>Status <select name="status"><option value="">any</option>${WEBHOOK_DELIVERY_STATUSES.map((s) => html`<option ${s === status ? 'selected' : ''}>${s}</option>`)}</select></label>
<label>Message id <input name="message" value="${message}" placeholder="msg_…"${badMessage ? html` aria-invalid="true" aria-describedby="webhook-message-error"` : ''}></label>
<button type="submit">Filter</button></form>
${deliveryTable(shown)}
${shown.length === 0 && !badMessage ? html`<p class="muted" role="status">${older ? 'No older status webhook matches.' : filtered ? 'No status webhook matches.' : 'No status webhook yet.'}</p>` : ''}
${last ? html`<p><a href="/console/webhooks/${id}/deliveries${qs({ status, message, older: last.id })}" rel="next">Older status webhooks →</a></p>` : ''}`;
      return reply
        .code(badMessage ? 400 : 200)
        .type('text/html')
        .send(page('Status webhooks', state, body, '/console/webhooks').text);
    },
  );
}
