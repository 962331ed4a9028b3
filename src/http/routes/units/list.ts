import { Type } from '@sinclair/typebox';
import type { AlertsService } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { presentUnitWithAlerts, UnitWithAlertsSchema } from './settings-schema.ts';

/**
 * `GET /v1/units`: each unit as `GET /v1/units/{id}` shows it when units' settings are served
 * (every unit's settings read in one query).
 */
export function registerListUnits(
  app: TypedApp,
  operations: OperationsService,
  alerts?: AlertsService,
): void {
  app.get(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Business units, by name (admin keys only), each as GET /v1/units/{id} shows it',
        response: {
          200: Type.Object({ data: Type.Array(alerts ? UnitWithAlertsSchema : UnitSchema) }),
          403: ErrorSchema,
        },
      },
    },
    async (request) => {
      const units = await operations.listUnits(scopeOf(request));
      if (!alerts) return { data: units.map(presentUnit) };
      const data = (await alerts.withSettings(units)).map(({ unit, settings }) =>
        presentUnitWithAlerts(unit, settings),
      );
      return { data };
    },
  );
}
