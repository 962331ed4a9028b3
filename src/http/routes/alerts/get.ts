import { Type } from '@sinclair/typebox';
import type { AlertsService } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentAlert } from '../../present/alert.ts';
import { AlertSchema } from '../../schemas/alert.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/alerts/{id}`. */
export function registerGetAlert(
  app: TypedApp,
  alerts: AlertsService,
  operations: OperationsService,
): void {
  app.get(
    '/alerts/:id',
    {
      schema: {
        tags: ['alerts'],
        summary: 'One alert with its evidence',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: AlertSchema, 404: ErrorSchema },
      },
    },
    async (request) => {
      const alert = await alerts.get(scopeOf(request), request.params.id);
      const units = await operations.unitNames(alert.unitId ? [alert.unitId] : []);
      return presentAlert(alert, units);
    },
  );
}
