import { Type } from '@sinclair/typebox';
import { isIdOf } from '../../../domain/ids.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { ApiError, type ErrorDetail } from '../../errors.ts';
import {
  cursorId,
  idCursor,
  limitParameter,
  type PageSize,
  pageOf,
  parseLimit,
} from '../../paging.ts';
import { presentRecoveries } from '../../present/recovery.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { RecoverySchema } from '../../schemas/recovery.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** Recoveries are large to show (each with its counts): 200 a page at most. */
const PAGE: PageSize = { default: 50, max: 200 };

const ListQuerySchema = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: limitParameter(PAGE),
  },
  { additionalProperties: false },
);

/** `GET /v1/recoveries`. */
export function registerListRecoveries(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/recoveries',
    {
      schema: {
        tags: ['operations'],
        summary: 'Recoveries, newest first',
        querystring: ListQuerySchema,
        response: {
          200: Type.Object({
            data: Type.Array(RecoverySchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          400: ErrorSchema,
        },
      },
    },
    async (request) => {
      const details: ErrorDetail[] = [];
      const limit = parseLimit(request.query.limit, PAGE, details);
      let beforeId: string | undefined;
      if (request.query.cursor !== undefined) {
        beforeId = cursorId(request.query.cursor);
        if (!isIdOf('rec', beforeId))
          details.push({
            field: 'querystring.cursor',
            message: 'is not a cursor this API returned',
          });
      }
      if (details.length > 0)
        throw new ApiError('invalid_request', 'the query is invalid; see details', details);
      const records = await operations.listRecoveries(scopeOf(request), {
        limit: limit + 1,
        ...(beforeId ? { beforeId } : {}),
      });
      const { shown, nextCursor } = pageOf(records, limit, (last) => idCursor(last.id));
      return {
        data: await presentRecoveries(operations, shown),
        next_cursor: nextCursor,
      };
    },
  );
}
