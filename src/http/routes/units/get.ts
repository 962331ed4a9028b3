import { Type } from '@sinclair/typebox';
import type { AlertsService } from '../../../domain/alerts/service.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { presentUnitWithAlerts, UnitWithAlertsSchema } from './settings-schema.ts';

/** `GET /v1/units/{id}`: a unit (by id or name) with its alert settings. */
export function registerGetUnit(app: TypedApp, alerts: AlertsService): void {
  app.get(
    '/units/:id',
    {
      schema: {
        tags: ['units'],
        summary: 'A unit (by id or name) with its alert channel and thresholds',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: UnitWithAlertsSchema, 404: ErrorSchema },
      },
    },
    async (request) => {
      const { unit, settings } = await alerts.settings(scopeOf(request), request.params.id);
      return presentUnitWithAlerts(unit, settings);
    },
  );
}
