import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../domain/operations/service.ts';
import type { SuppressionStore } from '../../domain/ports.ts';
import type { Suppression } from '../../domain/suppression.ts';
import { isValidEmail } from '../../domain/validate-message.ts';
import { ApiError } from '../error-codes.ts';
import { actorOf, scopeUnitId } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';

const SuppressionSchema = Type.Object({
  email: Type.String(),
  reason: Type.String({ description: 'bounce, blocked, spamreport, unsubscribe or manual' }),
  source: Type.String({ description: "event (a provider's delivery event) or api" }),
  detail: Type.Union([Type.String(), Type.Null()], {
    description: "the provider's reason text, when the event had one",
  }),
  created_at: Type.String(),
});

const ListQuerySchema = Type.Object(
  {
    email: Type.Optional(Type.String({ maxLength: 320, description: 'exact look-up' })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 100' }),
    ),
  },
  { additionalProperties: false },
);

const AddBodySchema = Type.Object(
  {
    email: Type.String({ maxLength: 320, description: 'An email address, e.g. guest@example.com' }),
    reason: Type.Optional(Type.Literal('manual')),
  },
  { additionalProperties: false },
);

const EmailParamsSchema = Type.Object({ email: Type.String({ maxLength: 320 }) });

const present = (s: Suppression) => ({
  email: s.email,
  reason: s.reason,
  source: s.source,
  detail: s.detail,
  created_at: new Date(s.createdAt).toISOString(),
});

/**
 * The suppression list: addresses Tegami does not send to (hard bounces, spam reports,
 * unsubscribes, blocks if configured, and addresses added here by hand).
 */
export function registerSuppressionRoutes(
  app: TypedApp,
  store: SuppressionStore,
  clock: () => number,
  operations?: OperationsService,
): void {
  app.get(
    '/suppressions',
    {
      schema: {
        querystring: ListQuerySchema,
        tags: ['suppressions'],
        summary: 'Suppressed addresses, newest first',
        response: { 200: Type.Object({ data: Type.Array(SuppressionSchema) }) },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 100);
      if (limit < 1 || limit > 1000) {
        throw new ApiError('invalid_request', 'the request is invalid; see details', [
          { field: 'querystring.limit', message: 'must be 1 to 1000' },
        ]);
      }
      const unitId = scopeUnitId(request);
      const entries = await store.list({
        limit,
        ...(request.query.email !== undefined ? { email: request.query.email } : {}),
        // A unit key sees its own unit's entries only (another unit's guests are not its business).
        ...(unitId !== undefined ? { unitId } : {}),
      });
      return { data: entries.map(present) };
    },
  );

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
      return present(suppression);
    },
  );

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
