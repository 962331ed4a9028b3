import type { FastifyInstance } from 'fastify';
import type { DeletedEndpointCursor } from '../../../../domain/ports/status-webhook-store.ts';
import type { ConsoleDeps } from '../../../deps.ts';
import { html, qs } from '../../../html.ts';
import { page } from '../../../layout.ts';
import { olderThanCursor } from '../../../page-link.ts';
import { ConsoleError, type Fields, stateOf, unitIdOf } from '../../../session.ts';
import { deletedList, unitWords } from './common.ts';

/**
 * Deleted endpoints per page of their own: those past the ones listed under the first page of
 * active endpoints (list.ts), kept until retention removes their logs.
 */
const DELETED_ENDPOINTS_PAGE_SIZE = 50;

const NO_SUCH_DELETED_PAGE = 'That page of deleted endpoints does not exist.';

/**
 * `GET /console/webhooks/deleted`: deleted endpoints past those under the endpoints' page, most
 * recently deleted first, a page at a time: their logs stay readable until retention removes them.
 */
export function registerDeletedPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get(
    '/console/webhooks/deleted',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const unitId = unitIdOf(state);
      // The last endpoint of the page before, read for when it was deleted: the list's order.
      // Endpoints are never removed (retention removes their logs), so a link made earlier
      // still works; one naming no deleted endpoint of this user's is a 400.
      const older = olderThanCursor((request.query as Fields).older, 'whk', 'deleted endpoints');
      let before: DeletedEndpointCursor | undefined;
      if (older !== undefined) {
        const pageBefore = await deps.webhooks.find(older, unitId, { deleted: true });
        if (!pageBefore || pageBefore.deletedAt === null)
          throw new ConsoleError(400, NO_SUCH_DELETED_PAGE);
        before = { id: pageBefore.id, deletedAt: pageBefore.deletedAt };
      }
      const found = await deps.webhooks.listDeleted(
        { limit: DELETED_ENDPOINTS_PAGE_SIZE + 1, ...(before ? { before } : {}) },
        unitId,
      );
      const deleted = found.slice(0, DELETED_ENDPOINTS_PAGE_SIZE);
      const last = found.length > DELETED_ENDPOINTS_PAGE_SIZE ? deleted.at(-1) : undefined;
      const body = html`<p><a href="/console/webhooks">← Back to the endpoints</a></p>
<h2>Deleted endpoints, most recently deleted first</h2>
<p class="muted">Nothing is posted to them any more; their logs are kept until retention removes them.</p>
${deleted.length > 0 ? deletedList(deleted, await unitWords(deps, deleted)) : html`<p class="muted" role="status">No more deleted endpoints.</p>`}
${last ? html`<p><a href="/console/webhooks/deleted${qs({ older: last.id })}" rel="next">Deleted before these →</a></p>` : ''}`;
      return reply
        .type('text/html')
        .send(page('Deleted status webhook endpoints', state, body, '/console/webhooks').text);
    },
  );
}
