import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/units`. */
export function registerListUnits(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Business units, by name (admin keys only)',
        response: { 200: Type.Object({ data: Type.Array(UnitSchema) }), 403: ErrorSchema },
      },
    },
    async (request) => ({ data: (await operations.listUnits(scopeOf(request))).map(presentUnit) }),
  );
}
