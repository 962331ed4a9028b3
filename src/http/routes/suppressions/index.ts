import type { OperationsService } from '../../../domain/operations/service.ts';
import type { SuppressionStore } from '../../../domain/ports/suppression-store.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerAddSuppression } from './add.ts';
import { registerListSuppressions } from './list.ts';
import { registerRemoveSuppression } from './remove.ts';

/**
 * The suppression list: addresses Tegami does not send to (hard bounces, spam reports,
 * unsubscribes, blocks if configured, and addresses added here by hand).
 */
export function registerSuppressionRoutes(
  app: TypedApp,
  store: SuppressionStore,
  clock: () => number,
  operations?: OperationsService,
): void {
  registerListSuppressions(app, store, operations);
  registerAddSuppression(app, store, clock, operations);
  registerRemoveSuppression(app, store, clock, operations);
}
