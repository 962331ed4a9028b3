import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../domain/operations/service.ts';
import type {
  SuppressionPosition,
  SuppressionStore,
} from '../../domain/ports/suppression-store.ts';
import type { Suppression } from '../../domain/suppression.ts';
import { isValidEmail } from '../../domain/validate-message.ts';
import { ApiError } from '../errors.ts';
import { isoTime, text, textOrNull } from '../present/values.ts';
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
    cursor: Type.Optional(
      Type.String({ maxLength: 2000, description: 'next_cursor of the previous page' }),
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
  email: text(s.email),
  reason: text(s.reason),
  source: text(s.source),
  detail: textOrNull(s.detail),
  created_at: isoTime(s.createdAt),
});

/**
 * Cursors are opaque to clients, like those of `GET /v1/messages`: base64url of the last entry's
 * position, `[created_at, lower-cased email]`.
 */
function encodeCursor(position: SuppressionPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.emailNormalized])).toString(
    'base64url',
  );
}

/** Largest magnitude of PostgreSQL's bigint, below which a number binds as plain digits. */
const BIGINT_LIMIT = 9.2e18;

function decodeCursor(cursor: string): SuppressionPosition {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    position = null;
  }
  if (
    Array.isArray(position) &&
    position.length === 2 &&
    Number.isInteger(position[0]) &&
    Math.abs(position[0]) < BIGINT_LIMIT &&
    typeof position[1] === 'string'
  ) {
    return { createdAt: position[0], emailNormalized: position[1] };
  }
  throw new ApiError('invalid_request', 'the query is invalid; see details', [
    { field: 'querystring.cursor', message: 'is not a cursor this API returned' },
  ]);
}

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
        description: 'Pass `next_cursor` back as `cursor` for the next page.',
        response: {
          200: Type.Object({
            data: Type.Array(SuppressionSchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
        },
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
      const before =
        request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      const { entries, next } = await store.list({
        limit,
        ...(request.query.email !== undefined ? { email: request.query.email } : {}),
        ...(before ? { before } : {}),
        // A unit key sees its own unit's entries only (another unit's guests are not its business).
        ...(unitId !== undefined ? { unitId } : {}),
      });
      return { data: entries.map(present), next_cursor: next ? encodeCursor(next) : null };
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
