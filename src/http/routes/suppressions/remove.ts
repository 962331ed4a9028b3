import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type { SuppressionStore } from '../../../domain/ports/suppression-store.ts';
import { ApiError } from '../../errors.ts';
import { actorOf, scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const EmailParamsSchema = Type.Object({ email: Type.String({ maxLength: 320 }) });

/** `DELETE /v1/suppressions/{email}`: mail to the address is sent again. */
export function registerRemoveSuppression(
  app: TypedApp,
  store: SuppressionStore,
  operations?: OperationsService,
): void {
  app.delete(
    '/suppressions/:email',
    {
      schema: {
        params: EmailParamsSchema,
        tags: ['suppressions'],
        summary: 'Remove an address: mail to it is sent again',
      },
    },
    async (request, reply) => {
      const unitId = scopeUnitId(request);
      if (!(await store.remove(request.params.email, unitId))) {
        throw new ApiError('not_found', `${request.params.email} is not on the suppression list`);
      }
      await operations?.record(actorOf(request), 'suppression.remove', {
        unitId: unitId ?? null,
        target: request.params.email.toLowerCase(),
      });
      void reply.code(204);
    },
  );
}
