import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type { SuppressionStore } from '../../../domain/ports/suppression-store.ts';
import { isValidEmail } from '../../../domain/validate-message.ts';
import { ApiError } from '../../errors.ts';
import { presentSuppression } from '../../present/suppression.ts';
import { SuppressionSchema } from '../../schemas/suppression.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const AddBodySchema = Type.Object(
  {
    email: Type.String({ maxLength: 320, description: 'An email address, e.g. guest@example.com' }),
    reason: Type.Optional(Type.Literal('manual')),
  },
  { additionalProperties: false },
);

/** `POST /v1/suppressions`: an address added by hand. */
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
        summary: 'Add an address (201), or show the entry it already has (200)',
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
      const { created, suppression } = await store.add({
        email,
        reason: 'manual',
        source: 'api',
        createdAt: clock(),
        unitId: request.apiKey?.unitId ?? '',
      });
      if (created) {
        await operations?.record(actorOf(request), 'suppression.add', {
          unitId: suppression.unitId,
          target: suppression.email.toLowerCase(),
        });
      }
      void reply.code(created ? 201 : 200);
      const scope = scopeOf(request);
      if (scope.kind === 'unit' && suppression.unitId !== scope.unitId) {
        // Another unit's entry: that the address is suppressed and why, not the provider's
        // words about another unit's mail.
        return presentSuppression({ ...suppression, detail: null });
      }
      return presentSuppression(suppression);
    },
  );
}
