import type { OperationsService } from '../../../domain/operations/service.ts';
import { presentOutcome, presentRecovery } from '../../present/recovery.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { RecoveryWithOutcomeSchema } from '../../schemas/recovery.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** `GET /v1/recoveries/{id}`. */
export function registerGetRecovery(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/recoveries/:id',
    {
      schema: {
        tags: ['operations'],
        summary: 'A recovery: its state, progress and what became of the mail it requeued',
        params: IdParamsSchema,
        response: { 200: RecoveryWithOutcomeSchema, 404: ErrorSchema },
      },
    },
    async (request) => {
      const { record, outcome } = await operations.getRecoveryWithOutcome(
        scopeOf(request),
        request.params.id,
      );
      const units = await operations.unitNames(record.unitId ? [record.unitId] : []);
      return { ...presentRecovery(record, units), outcome: presentOutcome(outcome) };
    },
  );
}
