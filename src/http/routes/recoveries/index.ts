import type { OperationsService } from '../../../domain/operations/service.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerCancelRecovery } from './cancel.ts';
import { registerGetRecovery } from './get.ts';
import { registerListRecoveries } from './list.ts';
import { registerStartRecovery } from './start.ts';

/** Bulk recovery: dry run, start, watch, list and stop (domain/operations/recovery.ts). */
export function registerRecoveryRoutes(app: TypedApp, operations: OperationsService): void {
  registerStartRecovery(app, operations);
  registerListRecoveries(app, operations);
  registerGetRecovery(app, operations);
  registerCancelRecovery(app, operations);
}
