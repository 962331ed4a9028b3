import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentRecoveries } from '../../present/recovery.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { RecoverySchema } from '../../schemas/recovery.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `POST /v1/recoveries/{id}/cancel`. */
export function registerCancelRecovery(app: TypedApp, operations: OperationsService): void {
  app.post(
    '/recoveries/:id/cancel',
    {
      schema: {
        tags: ['operations'],
        summary: 'Stop a running recovery after its current chunk',
        params: IdParamsSchema,
        response: { 200: RecoverySchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request) =>
      (
        await presentRecoveries(operations, [
          await operations.cancelRecovery(scopeOf(request), actorOf(request), request.params.id),
        ])
      )[0],
  );
}
