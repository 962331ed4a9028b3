import type { OperationsService } from '../../../domain/operations/service.ts';
import type { ProviderView } from '../../deps.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerListProviders } from './list.ts';
import { registerProbeProvider } from './probe.ts';

/** `/v1/providers`: provider health, and probes an operator asks for. */
export function registerProviderRoutes(
  app: TypedApp,
  view: ProviderView,
  operations: OperationsService,
  clock: () => number,
): void {
  registerListProviders(app, view, clock);
  registerProbeProvider(app, operations, view);
}
