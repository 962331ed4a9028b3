import { Type } from '@sinclair/typebox';
import { type ApiDeps, DEFAULT_UNCONFIRMED_MS } from '../../deps.ts';
import { parseListFilters } from '../../list-query.ts';
import { unitNamedIn } from '../../map-errors.ts';
import { DEFAULT_PAGE, idCursor, limitParameter, pageOf, parsePage } from '../../paging.ts';
import { presentMessage } from '../../present/message.ts';
import { currentHold } from '../../present/provider.ts';
import { MessageErrorResponses } from '../../schemas/error.ts';
import { MessageSchema } from '../../schemas/message.ts';
import { CountField, MessageQueryFields } from '../../schemas/message-query.ts';
import { Nullable, strict } from '../../schemas/parts.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const MessageListSchema = Type.Object({
  data: Type.Array(MessageSchema),
  next_cursor: Nullable(Type.String()),
  total: Type.Optional(Type.Integer({ description: 'with count=true: every message matched' })),
});

const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(
      Type.Union(
        ['queued', 'scheduled', 'sending', 'sent', 'failed', 'cancelled'].map((s) =>
          Type.Literal(s),
        ),
      ),
    ),
    recipient: Type.Optional(
      Type.String({ maxLength: 320, description: 'an address, or @domain for a whole domain' }),
    ),
    category: Type.Optional(Type.String({ maxLength: 255 })),
    ...MessageQueryFields,
    ...CountField,
    metadata: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 10 })], {
        description: 'key=value; repeat to require several',
      }),
    ),
    unconfirmed: Type.Optional(
      Type.Union([Type.Literal('true'), Type.Literal('false')], {
        description:
          'true: only messages the provider accepted (sent) longer than TEGAMI_UNCONFIRMED_AFTER_S ago with no delivery event since',
      }),
    ),
    created_after: Type.Optional(Type.String({ description: 'ISO 8601, inclusive' })),
    created_before: Type.Optional(Type.String({ description: 'ISO 8601, exclusive' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: limitParameter(DEFAULT_PAGE),
  },
  strict,
);

/** `GET /v1/messages`: messages, newest first, filtered and paged. */
export function registerListMessages(app: TypedApp, deps: ApiDeps): void {
  const clock = deps.clock ?? Date.now;
  app.get(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Messages, newest first',
        description:
          'Filter by status, unit, recipient (an address or @domain; recipient_text: part of an address or display name), category, metadata (key=value, repeatable), provider and error class of the last attempt, delivery status, subject words, and creation, update and dead-letter times. `count=true` adds the exact total. Pass `next_cursor` back as `cursor` for the next page.',
        querystring: ListQuerySchema,
        response: { 200: MessageListSchema, ...MessageErrorResponses },
      },
    },
    async (request) => {
      const { cursor, limit, unconfirmed, count, ...filters } = request.query;
      const page = parsePage({ cursor, limit });
      const query = parseListFilters(filters, { allowReason: false });
      const filter = await unitNamedIn(
        'querystring',
        deps.operations.filterFor(scopeOf(request), query),
      );
      if (!filter)
        return { data: [], next_cursor: null, ...(count === 'true' ? { total: 0 } : {}) };
      if (unconfirmed === 'true') {
        filter.unconfirmedSentBefore =
          clock() - (deps.unconfirmedAfterMs ?? DEFAULT_UNCONFIRMED_MS);
      }
      const [records, total] = await Promise.all([
        deps.messages.list({ ...filter, ...page.cursor, limit: page.limit + 1 }),
        count === 'true' ? deps.messages.count(filter) : undefined,
      ]);
      const { shown, nextCursor } = pageOf(records, page.limit, (last) => idCursor(last.id));
      const hold = await currentHold(deps.providers, clock());
      return {
        data: shown.map((r) => presentMessage(r, false, undefined, hold)),
        next_cursor: nextCursor,
        ...(total !== undefined ? { total } : {}),
      };
    },
  );
}
