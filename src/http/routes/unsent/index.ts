import type { OperationsService } from '../../../domain/operations/service.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerListUnsent } from './list.ts';
import { registerUnsentSummary } from './summary.ts';

/**
 * The unsent view: every message a provider has not taken, or took and never confirmed, with
 * the reason (domain/operations/unsent.ts). Read from partial indexes of unfinished rows only.
 */
export function registerUnsentRoutes(app: TypedApp, operations: OperationsService): void {
  registerListUnsent(app, operations);
  registerUnsentSummary(app, operations);
}
