import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { parseListFilters } from '../../list-query.ts';
import { unitNamedIn } from '../../map-errors.ts';
import { DEFAULT_PAGE, idCursor, limitParameter, pageOf, parsePage } from '../../paging.ts';
import { presentMessage } from '../../present/message.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { MessageSchema } from '../../schemas/message.ts';
import { UnsentFilterFields } from '../../schemas/unsent-filter.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const ListQuerySchema = Type.Object(
  {
    ...UnsentFilterFields,
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: limitParameter(DEFAULT_PAGE),
  },
  { additionalProperties: false },
);

const UnsentItemSchema = Type.Object({
  ...MessageSchema.properties,
  reason: Type.String({
    description:
      'waiting, requeued, retrying, held, unknown_outcome, failed or unconfirmed. requeued: a recovery or a retry requeued it and its next attempt has not finished; error_class is still the attempt before',
  }),
  provider: Type.Union([Type.String(), Type.Null()], {
    description: 'the provider of the last attempt',
  }),
  error_class: Type.Union([Type.String(), Type.Null()], {
    description: 'the error class of the last attempt',
  }),
});

/** `GET /v1/unsent`: unsent messages with the reason, newest first. */
export function registerListUnsent(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/unsent',
    {
      schema: {
        tags: ['operations'],
        summary: 'Unsent messages with their reason, newest first',
        description:
          'The filters of GET /v1/messages, plus `reason`. Pass `next_cursor` back as `cursor` for the next page.',
        querystring: ListQuerySchema,
        response: {
          200: Type.Object({
            data: Type.Array(UnsentItemSchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          400: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { cursor, limit, ...filters } = request.query;
      const page = parsePage({ cursor, limit });
      const query = parseListFilters(filters, { allowReason: true });
      const items = await unitNamedIn(
        'querystring',
        operations.unsent(scopeOf(request), query, { ...page.cursor, limit: page.limit + 1 }),
      );
      const { shown, nextCursor } = pageOf(items, page.limit, (last) => idCursor(last.record.id));
      return {
        data: shown.map(({ record, reason }) => ({
          ...presentMessage(record, false),
          reason,
          provider: record.lastProvider,
          error_class: record.lastErrorClass,
        })),
        next_cursor: nextCursor,
      };
    },
  );
}
