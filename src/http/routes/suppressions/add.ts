import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type { SuppressionStore } from '../../../domain/ports/suppression-store.ts';
import { addSuppressionByHand } from '../../../domain/suppressions-by-hand.ts';
import { isValidEmail } from '../../../domain/validate-message.ts';
import { ApiError } from '../../errors.ts';
import { presentSuppression } from '../../present/suppression.ts';
import { SuppressionSchema } from '../../schemas/suppression.ts';
import { actorOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { unitNamesOf } from './entries-unit.ts';

const AddBodySchema = Type.Object(
  {
    email: Type.String({ maxLength: 320, description: 'An email address, e.g. guest@example.com' }),
    reason: Type.Optional(Type.Literal('manual')),
  },
  { additionalProperties: false },
);

/**
 * `POST /v1/suppressions`: an address added by hand, as an entry of the key's unit. Another
 * unit's entry for the address is not this unit's: the unit gets its own (201), and learns
 * nothing of the other.
 */
export function registerAddSuppression(
  app: TypedApp,
  store: SuppressionStore,
  clock: () => number,
  operations?: OperationsService,
): void {
  app.post(
    '/suppressions',
    {
      schema: {
        body: AddBodySchema,
        tags: ['suppressions'],
        summary: "Add an address as the key's unit's (201), or show the unit's entry for it (200)",
        response: { 200: SuppressionSchema, 201: SuppressionSchema },
      },
    },
    async (request, reply) => {
      const { email } = request.body;
      if (!isValidEmail(email)) {
        throw new ApiError('invalid_request', 'the request is invalid; see details', [
          { field: 'email', message: 'is not a valid email address' },
        ]);
      }
      const { created, suppression } = await addSuppressionByHand(store, actorOf(request), {
        email,
        reason: 'manual',
        source: 'api',
        createdAt: clock(),
        unitId: request.apiKey?.unitId ?? '',
      });
      void reply.code(created ? 201 : 200);
      return presentSuppression(suppression, await unitNamesOf(operations, [suppression]));
    },
  );
}
