import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentRecoveries } from '../../present/recovery.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { RecoverySchema } from '../../schemas/recovery.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/recoveries/{id}`. */
export function registerGetRecovery(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/recoveries/:id',
    {
      schema: {
        tags: ['operations'],
        summary: 'A recovery: its state and progress',
        params: IdParamsSchema,
        response: { 200: RecoverySchema, 404: ErrorSchema },
      },
    },
    async (request) =>
      (
        await presentRecoveries(operations, [
          await operations.getRecovery(scopeOf(request), request.params.id),
        ])
      )[0],
  );
}
