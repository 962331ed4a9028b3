import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { authenticateRequests } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { checkQueryValues, refuseBody } from '../request-parts.ts';
import { commonErrorResponses } from '../schemas/error.ts';
import { NoQuerySchema } from '../schemas/parts.ts';
import { registerAlertRoutes } from './alerts/index.ts';
import { registerAuditRoutes } from './audit-events/index.ts';
import { registerEventWebhook } from './event-webhook.ts';
import { registerHealthRoutes } from './health/index.ts';
import { registerMessageRoutes } from './messages/index.ts';
import { registerMonitoringRoutes } from './monitoring/index.ts';
import { registerOpenApiDocument } from './openapi.ts';
import { registerProviderRoutes } from './providers/index.ts';
import { registerRecoveryRoutes } from './recoveries/index.ts';
import { registerSandboxRoutes } from './sandbox/index.ts';
import { registerSendGridRoutes } from './sendgrid/index.ts';
import { registerEventRelayRoutes } from './sendgrid-event-relay/index.ts';
import { registerSuppressionRoutes } from './suppressions/index.ts';
import { registerUnitRoutes } from './units/index.ts';
import { registerUnsentRoutes } from './unsent/index.ts';
import { registerWebhookEndpointRoutes } from './webhook-endpoints/index.ts';

/**
 * Every route of the API: health and the provider's webhook at the root, SendGrid's
 * `/v3/mail/send` (with SendGrid's key check and answers), the rest under `/v1` behind an API key. The order of registration is the order of the OpenAPI document.
 */
export async function registerRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  registerHealthRoutes(app, deps);
  if (deps.monitoring) registerMonitoringRoutes(app, deps.monitoring);
  for (const webhook of deps.eventWebhooks ?? []) await registerEventWebhook(app, webhook);
  registerOpenApiDocument(app);
  await registerSendGridRoutes(app, deps);
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', authenticateRequests(deps));
      // A /v1 route that declares no query parameters takes none: an unknown one is refused
      // (400 `invalid_request`, naming it) as the routes with parameters refuse theirs, instead of
      // being ignored, where a typo such as `?stauts=failed` would act on everything. Set here,
      // before the routes, so a new route cannot forget it. Each route also lists the errors any
      // /v1 route may answer (400, 401, 503, ...), so that the OpenAPI document names every status
      // a client can get; what a route declares itself wins.
      // Likewise a route that declares no body takes none (an empty one, or `{}`): a body with
      // fields is refused, naming them, instead of ignored. Query values are checked alike on
      // every route (request-parts.ts).
      scope.addHook('onRoute', (route) => {
        route.schema ??= {};
        route.schema.querystring ??= NoQuerySchema;
        route.schema.response = {
          ...commonErrorResponses(route.method, route.url),
          ...(route.schema.response as object | undefined),
        };
        const own = route.preValidation === undefined ? [] : [route.preValidation].flat();
        const body = route.schema.body === undefined && takesBody(route.method) ? [refuseBody] : [];
        route.preValidation = [checkQueryValues, ...body, ...own];
      });
      const v1 = scope.withTypeProvider<TypeBoxTypeProvider>();
      registerMessageRoutes(v1, deps);
      registerUnitRoutes(v1, deps.operations, deps.alerts, (unitId) => {
        deps.unitRateLimits?.forget(unitId);
        deps.unitPriorities?.forget(unitId);
      });
      if (deps.alerts) registerAlertRoutes(v1, deps.alerts, deps.operations);
      registerUnsentRoutes(v1, deps.operations);
      registerRecoveryRoutes(v1, deps.operations);
      registerAuditRoutes(v1, deps.operations);
      if (deps.sandbox) registerSandboxRoutes(v1, deps.sandbox);
      if (deps.suppressions) {
        registerSuppressionRoutes(v1, deps.suppressions, deps.clock ?? Date.now, deps.operations);
      }
      if (deps.webhookEndpoints) registerWebhookEndpointRoutes(v1, deps.webhookEndpoints);
      if (deps.sendgridEventRelay) registerEventRelayRoutes(v1, deps.sendgridEventRelay);
      if (deps.providers) {
        registerProviderRoutes(v1, deps.providers, deps.operations, deps.clock ?? Date.now);
      }
    },
    { prefix: '/v1' },
  );
}

/** Methods a request may send a body with (Fastify reads a body for these). */
function takesBody(method: string | string[]): boolean {
  return [method].flat().some((m) => m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS');
}
