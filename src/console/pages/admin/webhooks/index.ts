import type { FastifyInstance } from 'fastify';
import type { ConsoleDeps } from '../../../deps.ts';
import { registerCreate } from './create.ts';
import { registerDelete } from './delete.ts';
import { registerDeletedPage } from './deleted.ts';
import { registerDeliveriesPage } from './deliveries.ts';
import { registerListPage } from './list.ts';
import { registerRedeliver } from './redeliver.ts';
import { registerRotateSecret } from './rotate-secret.ts';

/**
 * Status webhook endpoints (admins, of every unit or of the unit they look at): the endpoints
 * with their newest status webhooks, adding, deleting, posting failed ones again, rotating the
 * secret, and each endpoint's whole log. One module per page or action; what several use
 * (the status webhooks table, the deleted endpoints' list, the endpoint a path names, the
 * endpoints' page cursor) is in common.ts.
 */
export function registerWebhookPages(app: FastifyInstance, deps: ConsoleDeps): void {
  registerListPage(app, deps);
  registerDeletedPage(app, deps);
  registerDeliveriesPage(app, deps);
  registerCreate(app, deps);
  registerDelete(app, deps);
  registerRedeliver(app, deps);
  registerRotateSecret(app, deps);
}
