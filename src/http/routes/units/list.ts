import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { ApiError } from '../../errors.ts';
import { DEFAULT_PAGE, idCursor, limitParameter, pageOf, parseIdPage } from '../../paging.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { Nullable } from '../../schemas/parts.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const ListQuerySchema = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'next_cursor of the previous page' }),
    ),
    limit: limitParameter(DEFAULT_PAGE),
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/units`: units by name, each as `GET /v1/units/{id}` shows it (the page's settings in
 * one query), paged like the other lists (`next_cursor` back as `cursor`).
 */
export function registerListUnits(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Business units, by name (admin keys only), each as GET /v1/units/{id} shows it',
        description:
          'Pass `next_cursor` back as `cursor` for the next page; it is null on the last page.',
        querystring: ListQuerySchema,
        response: {
          200: Type.Object({ data: Type.Array(UnitSchema), next_cursor: Nullable(Type.String()) }),
          403: ErrorSchema,
        },
      },
    },
    async (request) => {
      // The cursor names the page's last unit by id, as the other lists' cursors do.
      const { limit, beforeId: afterId } = parseIdPage(request.query, 'unit');
      const units = await operations.listUnitsWithSettings(scopeOf(request), {
        limit: limit + 1,
        ...(afterId !== undefined ? { afterId } : {}),
      });
      // Units are listed by name, so a cursor must name a unit that exists (units are never
      // deleted): one that names none would otherwise read as the end of the list.
      if (units.length === 0 && afterId !== undefined) {
        const known = await operations.unitNames([afterId]);
        if (!known.has(afterId))
          throw new ApiError('invalid_request', 'the query is invalid; see details', [
            { field: 'querystring.cursor', message: 'is not a cursor this API returned' },
          ]);
      }
      const { shown, nextCursor } = pageOf(units, limit, (last) => idCursor(last.unit.id));
      return {
        data: shown.map(({ unit, settings }) => presentUnit(unit, settings)),
        next_cursor: nextCursor,
      };
    },
  );
}
