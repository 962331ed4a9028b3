import type { AlertsService } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerCreateUnit } from './create.ts';
import { registerGetUnit } from './get.ts';
import { registerListUnits } from './list.ts';
import { registerUpdateUnit } from './update.ts';

/** `GET/POST /v1/units`, `GET/PUT /v1/units/{id}`: business units, for admin keys. */
export function registerUnitRoutes(
  app: TypedApp,
  operations: OperationsService,
  alerts?: AlertsService,
  onChanged?: (unitId: string) => void,
): void {
  registerListUnits(app, operations);
  registerCreateUnit(app, operations);
  registerGetUnit(app, operations);
  // Changing a unit's settings checks a Slack URL's destination and records it: the alerts
  // service does that. Reading them needs only the store.
  if (alerts) registerUpdateUnit(app, alerts, onChanged);
}
