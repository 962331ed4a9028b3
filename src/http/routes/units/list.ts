import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/units`: each unit as `GET /v1/units/{id}` shows it (every unit's settings in one query). */
export function registerListUnits(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Business units, by name (admin keys only), each as GET /v1/units/{id} shows it',
        response: {
          200: Type.Object({ data: Type.Array(UnitSchema) }),
          403: ErrorSchema,
        },
      },
    },
    async (request) => {
      const units = await operations.listUnitsWithSettings(scopeOf(request));
      return { data: units.map(({ unit, settings }) => presentUnit(unit, settings)) };
    },
  );
}
