import type { AlertsService } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerGetAlert } from './get.ts';
import { registerListAlerts } from './list.ts';

/** `GET /v1/alerts` and `GET /v1/alerts/{id}`. */
export function registerAlertRoutes(
  app: TypedApp,
  alerts: AlertsService,
  operations: OperationsService,
): void {
  registerListAlerts(app, alerts, operations);
  registerGetAlert(app, alerts, operations);
}
