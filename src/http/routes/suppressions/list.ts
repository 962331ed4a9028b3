import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import type {
  SuppressionPosition,
  SuppressionStore,
} from '../../../domain/ports/suppression-store.ts';
import { ApiError, type ErrorDetail } from '../../errors.ts';
import { limitParameter, type PageSize, parseLimit } from '../../paging.ts';
import { presentSuppression } from '../../present/suppression.ts';
import { SuppressionSchema, SuppressionUnitQuery } from '../../schemas/suppression.ts';
import type { TypedApp } from '../../typed-app.ts';
import { entriesUnit, unitNamesOf } from './entries-unit.ts';

/** Entries are small: up to 1,000 a page, 100 unasked. */
const PAGE: PageSize = { default: 100, max: 1000 };

const ListQuerySchema = Type.Object(
  {
    email: Type.Optional(Type.String({ maxLength: 320, description: 'exact look-up' })),
    unit: SuppressionUnitQuery,
    limit: limitParameter(PAGE),
    cursor: Type.Optional(
      Type.String({ maxLength: 2000, description: 'next_cursor of the previous page' }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Cursors are opaque to clients, like those of `GET /v1/messages`: base64url of the last entry's
 * position, `[created_at, lower-cased email, unit id or ""]`. Cursors from before entries had
 * units (`[created_at, lower-cased email]`) are still taken.
 */
function encodeCursor(position: SuppressionPosition): string {
  return Buffer.from(
    JSON.stringify([position.createdAt, position.emailNormalized, position.unitKey]),
  ).toString('base64url');
}

/** Largest magnitude of PostgreSQL's bigint, below which a number binds as plain digits. */
const BIGINT_LIMIT = 9.2e18;

/** The position a cursor names, or null for one this API did not return. */
function decodeCursor(cursor: string): SuppressionPosition | null {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    position = null;
  }
  // PostgreSQL text cannot hold NUL: such a cursor is refused like any other it did not return.
  const text = (value: unknown) => typeof value === 'string' && !value.includes('\u0000');
  if (
    Array.isArray(position) &&
    (position.length === 2 || (position.length === 3 && text(position[2]))) &&
    Number.isInteger(position[0]) &&
    Math.abs(position[0]) < BIGINT_LIMIT &&
    text(position[1])
  ) {
    // '' sorts first: an old cursor continues after every entry of its address and time.
    return { createdAt: position[0], emailNormalized: position[1], unitKey: position[2] ?? '' };
  }
  return null;
}

/**
 * `GET /v1/suppressions`: suppressed addresses, newest first. A unit key sees its own unit's
 * entries only (another unit's guests are not its business); an admin key every unit's, or one
 * unit's with `unit`.
 */
export function registerListSuppressions(
  app: TypedApp,
  store: SuppressionStore,
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
      const details: ErrorDetail[] = [];
      const limit = parseLimit(request.query.limit, PAGE, details);
      const before =
        request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      if (before === null) {
        details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
      }
      if (details.length > 0) {
        throw new ApiError('invalid_request', 'the query is invalid; see details', details);
      }
      const unitId = await entriesUnit(request, operations, request.query.unit);
      const { entries, next } = await store.list({
        limit,
        ...(request.query.email !== undefined ? { email: request.query.email } : {}),
        ...(before ? { before } : {}),
        ...(unitId !== undefined ? { unitId } : {}),
      });
      const units = await unitNamesOf(operations, entries);
      return {
        data: entries.map((e) => presentSuppression(e, units)),
        next_cursor: next ? encodeCursor(next) : null,
      };
    },
  );
}
