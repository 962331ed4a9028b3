import { Type } from '@sinclair/typebox';
import { MESSAGE_ID, MESSAGE_ID_IN_WORDS } from '../../../domain/ids.ts';
import { WEBHOOK_DELIVERY_STATUSES } from '../../../domain/ports/status-webhook-store.ts';
import type { WebhookEndpointsOptions } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { idCursor, limitParameter, type PageSize, pageOf, parseIdPage } from '../../paging.ts';
import {
  integer,
  integerOrNull,
  isoTime,
  isoTimeOrNull,
  text,
  textOrNull,
} from '../../present/values.ts';
import { Nullable } from '../../schemas/parts.ts';
import { EndpointIdParamsSchema } from '../../schemas/webhook-endpoint.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** Most status webhooks one page of the log holds, and how many it holds unasked. */
const PAGE: PageSize = { default: 100, max: 1000 };

const DeliveriesQuerySchema = Type.Object(
  {
    status: Type.Optional(Type.Union(WEBHOOK_DELIVERY_STATUSES.map((s) => Type.Literal(s)))),
    message_id: Type.Optional(
      Type.String({
        pattern: MESSAGE_ID.source,
        description: `only the status webhooks about this message: ${MESSAGE_ID_IN_WORDS}`,
      }),
    ),
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'next_cursor of the previous page' }),
    ),
    limit: limitParameter(PAGE),
  },
  { additionalProperties: false },
);

const DeliverySchema = Type.Object({
  id: Type.String(),
  type: Type.String({ description: 'the status webhook type, e.g. message.sent' }),
  message_id: Nullable(
    Type.String({ description: "the message it is about (the body's data.message_id)" }),
  ),
  status: Type.String({ description: 'pending, delivered or failed' }),
  attempts: Type.Number(),
  last_status: Type.Union([Type.Number(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  last_error_at: Nullable(
    Type.String({
      description:
        'when last_error was recorded (the post that failed, or the deletion of the endpoint); null with no last_error, or for one recorded before this field existed',
    }),
  ),
  next_attempt_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  delivered_at: Type.Union([Type.String(), Type.Null()]),
});

/**
 * `GET /v1/webhook-endpoints/{id}/deliveries`: the endpoint's delivery log, newest first, paged
 * like the other lists (`next_cursor` back as `cursor`: the `whd_…` id of the page's last
 * entry), by status and message. A unit key reads its own unit's endpoints only. A deleted
 * endpoint's log is read as an active one's, until retention removes it.
 */
export function registerWebhookEndpointDeliveries(app: TypedApp, options: WebhookEndpointsOptions) {
  const { store } = options;
  app.get(
    '/webhook-endpoints/:id/deliveries',
    {
      schema: {
        params: EndpointIdParamsSchema,
        querystring: DeliveriesQuerySchema,
        tags: ['webhooks'],
        summary: "The endpoint's delivery log, newest first",
        description:
          "Filter by `status` and `message_id`. Pass `next_cursor` back as `cursor` for the next page; status webhooks queued meanwhile come before the first page, never between pages. A deleted endpoint's log stays readable until retention removes it; the status webhooks still pending when it was deleted are `failed`, with `last_error` `endpoint deleted`.",
        response: {
          200: Type.Object({
            data: Type.Array(DeliverySchema),
            next_cursor: Nullable(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      const { status, message_id: messageId } = request.query;
      const { limit, beforeId } = parseIdPage(request.query, 'whd', PAGE);
      // A deleted endpoint's log too: what was posted to it before, until retention removes it.
      if (!(await store.find(request.params.id, scopeUnitId(request), { deleted: true })))
        throw new ApiError('not_found', `no webhook endpoint ${request.params.id}`);
      const rows = await store.deliveries(request.params.id, {
        limit: limit + 1,
        ...(beforeId !== undefined ? { beforeId } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(messageId !== undefined ? { messageId } : {}),
      });
      const { shown, nextCursor } = pageOf(rows, limit, (last) => idCursor(last.id));
      return {
        data: shown.map((d) => ({
          id: text(d.id),
          type: text(d.eventType),
          message_id: textOrNull(d.messageId),
          status: text(d.status),
          attempts: integer(d.attempts),
          last_status: integerOrNull(d.lastStatus),
          last_error: textOrNull(d.lastError),
          last_error_at: isoTimeOrNull(d.lastErrorAt),
          next_attempt_at: d.status === 'pending' ? isoTimeOrNull(d.nextAttemptAt) : null,
          created_at: isoTime(d.createdAt),
          delivered_at: isoTimeOrNull(d.deliveredAt),
        })),
        next_cursor: nextCursor,
      };
    },
  );
}
