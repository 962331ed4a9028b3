import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { probeableProviders } from '../../../domain/provider-health.ts';
import type { ProviderView } from '../../deps.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/**
 * `POST /v1/providers/{name}/probe`: an operator who fixed the cause of a pause (a new key, a
 * verified sender) has the workers probe now instead of after TEGAMI_PROVIDER_PAUSE_CHECK_MS.
 * Workers whose circuit for it is healthy have nothing to probe and ignore it.
 */
export function registerProbeProvider(
  app: TypedApp,
  operations: OperationsService,
  view: ProviderView,
): void {
  app.post(
    '/providers/:name/probe',
    {
      schema: {
        tags: ['providers'],
        summary: 'Probe the provider now (admin keys only)',
        params: Type.Object(
          { name: Type.String({ maxLength: 64 }) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ provider: Type.String(), requested_at: Type.String() }),
          403: ErrorSchema,
          404: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const known = probeableProviders(view.configured, await view.health.list());
      const at = await operations.requestProbe(
        scopeOf(request),
        actorOf(request),
        request.params.name,
        known,
      );
      void reply.code(202);
      return { provider: request.params.name, requested_at: new Date(at).toISOString() };
    },
  );
}
