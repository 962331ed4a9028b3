import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type { SuppressionStore } from '../../../domain/ports/suppression-store.ts';
import { removeSuppressionByHand } from '../../../domain/suppressions-by-hand.ts';
import { ApiError } from '../../errors.ts';
import { NoContentSchema } from '../../schemas/error.ts';
import { SuppressionUnitQuery } from '../../schemas/suppression.ts';
import { actorOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { entriesUnit } from './entries-unit.ts';

const EmailParamsSchema = Type.Object({ email: Type.String({ maxLength: 320 }) });
const RemoveQuerySchema = Type.Object(
  { unit: SuppressionUnitQuery },
  { additionalProperties: false },
);

/**
 * `DELETE /v1/suppressions/{email}`: a unit key removes its own unit's entry, never another
 * unit's (that one is not there for it: 404). An admin key removes every unit's entry for the
 * address, or one unit's with `unit`. Each entry removed is in the audit log under its unit.
 */
export function registerRemoveSuppression(
  app: TypedApp,
  store: SuppressionStore,
  clock: () => number,
  operations?: OperationsService,
): void {
  app.delete(
    '/suppressions/:email',
    {
      schema: {
        params: EmailParamsSchema,
        querystring: RemoveQuerySchema,
        tags: ['suppressions'],
        summary:
          "Remove the key's unit's entry for an address (an admin key: every unit's, or the `unit`'s)",
        description:
          "Mail is sent to the address again once no entry of any unit is left. A unit key cannot remove another unit's entry: 404.",
        response: { 204: NoContentSchema },
      },
    },
    async (request, reply) => {
      const unitId = await entriesUnit(request, operations, request.query.unit);
      const { email } = request.params;
      const removed = await removeSuppressionByHand(
        store,
        actorOf(request),
        { email, unitId },
        clock(),
      );
      if (removed.length === 0) {
        throw new ApiError('not_found', `${email} is not on the suppression list`);
      }
      void reply.code(204);
    },
  );
}
