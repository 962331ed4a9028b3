import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/units/{id}`: a unit (by id or name) with its settings. */
export function registerGetUnit(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/units/:id',
    {
      schema: {
        tags: ['units'],
        summary: 'A unit (by id or name) with its alert channel and thresholds',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: UnitSchema, 404: ErrorSchema },
      },
    },
    async (request) => {
      const { unit, settings } = await operations.unitWithSettings(
        scopeOf(request),
        request.params.id,
      );
      return presentUnit(unit, settings);
    },
  );
}
