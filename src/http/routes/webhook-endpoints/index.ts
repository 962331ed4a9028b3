import type { WebhookEndpointsOptions } from '../../deps.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerCreateWebhookEndpoint } from './create.ts';
import { registerDeleteWebhookEndpoint } from './delete.ts';
import { registerWebhookEndpointDeliveries } from './deliveries.ts';
import { registerGetWebhookEndpoint } from './get.ts';
import { registerListWebhookEndpoints } from './list.ts';
import { registerRedeliverWebhookEndpoint } from './redeliver.ts';
import { registerRotateWebhookEndpointSecret } from './rotate-secret.ts';

/**
 * Status webhooks: applications register endpoints, read them back, rotate their secrets and
 * read each one's delivery log.
 */
export function registerWebhookEndpointRoutes(app: TypedApp, options: WebhookEndpointsOptions) {
  registerCreateWebhookEndpoint(app, options);
  registerListWebhookEndpoints(app, options);
  registerGetWebhookEndpoint(app, options);
  registerDeleteWebhookEndpoint(app, options);
  registerWebhookEndpointDeliveries(app, options);
  registerRedeliverWebhookEndpoint(app, options);
  registerRotateWebhookEndpointSecret(app, options);
}
