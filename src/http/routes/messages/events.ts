import { Type } from '@sinclair/typebox';
import { encodeEventCursor } from '../../../domain/event-cursor.ts';
import type { ApiDeps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { EVENT_PAGE, limitParameter, pageOf, parseEventPage } from '../../paging.ts';
import { presentEvent } from '../../present/message.ts';
import { text } from '../../present/values.ts';
import { MessageErrorResponses } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { PagedDeliveryEventSchema } from '../../schemas/message.ts';
import { Nullable, strict } from '../../schemas/parts.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const EventPageSchema = Type.Object({
  data: Type.Array(PagedDeliveryEventSchema),
  next_cursor: Nullable(Type.String()),
});

const EventQuerySchema = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 2000 })),
    limit: limitParameter(EVENT_PAGE),
  },
  strict,
);

/**
 * `GET /v1/messages/{id}/events`: all of a message's delivery events, newest first, page by page,
 * those matching none of its recipients included (`matches_recipient: false`).
 */
export function registerMessageEvents(app: TypedApp, deps: ApiDeps): void {
  app.get(
    '/messages/:id/events',
    {
      schema: {
        tags: ['messages'],
        summary: "A message's delivery events, newest first",
        description:
          "Every event of the message, newest first (by event time; within one second, a delivery's natural order: processed, dropped, deferred, delivered, bounce, open, click), those whose address matches none of its recipients included. Pass `next_cursor` back as `cursor` for the next, older page; it is null on the last one.",
        params: IdParamsSchema,
        querystring: EventQuerySchema,
        response: { 200: EventPageSchema, ...MessageErrorResponses },
      },
    },
    async (request) => {
      const page = parseEventPage(request.query);
      const unitId = scopeUnitId(request);
      // Events go with their message: another unit's message, and its events, are not found.
      const events = deps.messageEvents
        ? await deps.messageEvents.eventPage(request.params.id, {
            ...page,
            ...(unitId !== undefined ? { unitId } : {}),
            limit: page.limit + 1,
          })
        : (await deps.messages.get(request.params.id, unitId))
          ? []
          : null;
      if (!events) throw new ApiError('not_found', `no message with id ${request.params.id}`);
      const { shown, nextCursor } = pageOf(events, page.limit, (last) =>
        encodeEventCursor(last.cursor),
      );
      return {
        data: shown.map((e) => ({
          email: text(e.email),
          ...presentEvent(e),
          matches_recipient: e.matchesRecipient,
        })),
        next_cursor: nextCursor,
      };
    },
  );
}
