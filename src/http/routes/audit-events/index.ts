import type { OperationsService } from '../../../domain/operations/service.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerListAuditEvents } from './list.ts';

/** `/v1/audit-events`: the audit log of operator actions. */
export function registerAuditRoutes(app: TypedApp, operations: OperationsService): void {
  registerListAuditEvents(app, operations);
}
