import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { configuredProviderAndMismatch } from '../../present/provider.ts';

/**
 * `GET /readyz`, ready: the database answers and every migration is applied. It also names the
 * provider's state and what its credential check said: a paused provider does not make the API
 * unready (accepted mail is kept), but it should not go unnoticed. The reasons, which may quote
 * the provider, are at the authenticated `GET /v1/providers`. `workers_provider_mismatch` is
 * non-null when the running workers send through another provider than this process's
 * TEGAMI_PROVIDER, whose state it then shows: a mistake in the deployment, not a reason to take
 * the process out of rotation. A process draining before it stops is not ready.
 */
export function registerReady(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/readyz', { schema: { hide: true } }, async () => {
    // Stopping: out of rotation first, while requests are still served (TEGAMI_SHUTDOWN_DRAIN_S).
    if (deps.draining?.()) {
      throw new ApiError('not_ready', 'stopping: this process closes its port soon');
    }
    const { ready, reason } = await deps.readiness();
    if (!ready) throw new ApiError('not_ready', reason ?? 'not ready');
    if (!deps.providers) return { status: 'ready' };
    const view = await configuredProviderAndMismatch(
      deps.providers,
      (deps.clock ?? Date.now)(),
    ).catch(() => null);
    if (!view) return { status: 'ready' };
    const { provider, mismatch } = view;
    return {
      status: 'ready',
      provider: {
        name: provider.name,
        state: provider.state,
        credentials: provider.credentials?.result ?? null,
      },
      workers_provider_mismatch: mismatch,
    };
  });
}
