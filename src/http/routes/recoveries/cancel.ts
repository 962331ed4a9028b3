import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentOutcome, presentRecovery } from '../../present/recovery.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { RecoveryWithOutcomeSchema } from '../../schemas/recovery.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/**
 * `POST /v1/recoveries/{id}/cancel`: the recovery as `GET /v1/recoveries/{id}` shows it once
 * cancelled, `outcome` included (as a message's cancel and retry answer with the message's read).
 */
export function registerCancelRecovery(app: TypedApp, operations: OperationsService): void {
  app.post(
    '/recoveries/:id/cancel',
    {
      schema: {
        tags: ['operations'],
        summary: 'Stop a running recovery after its current chunk',
        description:
          'Answers with the recovery as `GET /v1/recoveries/{id}` shows it, with its `outcome`. 409 `invalid_state` if it has finished.',
        params: IdParamsSchema,
        response: { 200: RecoveryWithOutcomeSchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request) => {
      const { record, outcome } = await operations.cancelRecoveryWithOutcome(
        scopeOf(request),
        actorOf(request),
        request.params.id,
      );
      const units = await operations.unitNames(record.unitId ? [record.unitId] : []);
      return { ...presentRecovery(record, units), outcome: presentOutcome(outcome) };
    },
  );
}
