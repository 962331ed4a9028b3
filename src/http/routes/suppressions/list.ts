import { Type } from '@sinclair/typebox';
import type {
  SuppressionPosition,
  SuppressionStore,
} from '../../../domain/ports/suppression-store.ts';
import { ApiError } from '../../errors.ts';
import { presentSuppression } from '../../present/suppression.ts';
import { SuppressionSchema } from '../../schemas/suppression.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

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

/** `GET /v1/suppressions`: suppressed addresses, newest first. */
export function registerListSuppressions(app: TypedApp, store: SuppressionStore): void {
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
      return {
        data: entries.map(presentSuppression),
        next_cursor: next ? encodeCursor(next) : null,
      };
    },
  );
}
