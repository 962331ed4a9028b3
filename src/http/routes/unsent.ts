import { Type } from '@sinclair/typebox';
import { parseMessageQuery } from '../../domain/operations/message-query.ts';
import type { OperationsService } from '../../domain/operations/service.ts';
import { ApiError } from '../errors.ts';
import { MessageQueryFields, ReasonField, StatusField } from '../message-query-schema.ts';
import { presentMessage } from '../present/message.ts';
import { ErrorSchema, MessageSchema } from '../schemas.ts';
import { scopeOf } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';
import { parsePage } from './messages.ts';

const FilterFields = {
  ...StatusField,
  ...MessageQueryFields,
  ...ReasonField,
  recipient: Type.Optional(
    Type.String({ maxLength: 320, description: 'an address, or @domain for a whole domain' }),
  ),
  category: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 10 })], {
      description: 'key=value; repeat to require several',
    }),
  ),
  created_after: Type.Optional(Type.String({ maxLength: 40 })),
  created_before: Type.Optional(Type.String({ maxLength: 40 })),
};

const ListQuerySchema = Type.Object(
  {
    ...FilterFields,
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 500, default 50' }),
    ),
  },
  { additionalProperties: false },
);

const SummaryQuerySchema = Type.Object(FilterFields, { additionalProperties: false });

const UnsentItemSchema = Type.Object({
  ...MessageSchema.properties,
  reason: Type.String({
    description: 'waiting, retrying, held, unknown_outcome, failed or unconfirmed',
  }),
  provider: Type.Union([Type.String(), Type.Null()], {
    description: 'the provider of the last attempt',
  }),
  error_class: Type.Union([Type.String(), Type.Null()], {
    description: 'the error class of the last attempt',
  }),
});

const Count = (key: string) =>
  Type.Array(
    Type.Object({ [key]: Type.Union([Type.String(), Type.Null()]), count: Type.Integer() }),
  );

const SummarySchema = Type.Object({
  total: Type.Integer(),
  by_reason: Type.Record(Type.String(), Type.Integer()),
  by_unit: Count('unit'),
  by_provider: Count('provider'),
  by_error_class: Count('error_class'),
  oldest_waiting: Type.Union([
    Type.Object({ id: Type.String(), due_since: Type.String(), age_s: Type.Integer() }),
    Type.Null(),
  ]),
});

function parseFilters(input: Record<string, unknown>) {
  const { query, errors } = parseMessageQuery(input, {
    fieldPrefix: 'querystring.',
    allowReason: true,
  });
  if (errors.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', errors);
  return query;
}

/**
 * The unsent view: every message a provider has not taken, or took and never confirmed, with
 * the reason (domain/operations/unsent.ts). Read from partial indexes of unfinished rows only.
 */
export function registerUnsentRoutes(app: TypedApp, operations: OperationsService): void {
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
      const items = await operations.unsent(scopeOf(request), parseFilters(filters), {
        ...page.cursor,
        limit: page.limit + 1,
      });
      const shown = items.slice(0, page.limit);
      const last = shown[shown.length - 1];
      return {
        data: shown.map(({ record, reason }) => ({
          ...presentMessage(record, false),
          reason,
          provider: record.lastProvider,
          error_class: record.lastErrorClass,
        })),
        next_cursor:
          items.length > page.limit && last
            ? Buffer.from(last.record.id).toString('base64url')
            : null,
      };
    },
  );

  app.get(
    '/unsent/summary',
    {
      schema: {
        tags: ['operations'],
        summary:
          'Counts of unsent messages by reason, unit, provider and error class, and the oldest waiting one',
        querystring: SummaryQuerySchema,
        response: { 200: SummarySchema, 400: ErrorSchema },
      },
    },
    async (request) => {
      const summary = await operations.unsentSummary(scopeOf(request), parseFilters(request.query));
      return {
        total: summary.total,
        by_reason: summary.byReason,
        by_unit: summary.byUnit,
        by_provider: summary.byProvider,
        by_error_class: summary.byErrorClass.map((e) => ({
          error_class: e.errorClass,
          count: e.count,
        })),
        oldest_waiting: summary.oldestWaiting
          ? {
              id: summary.oldestWaiting.id,
              due_since: new Date(summary.oldestWaiting.dueSince).toISOString(),
              age_s: Math.floor(summary.oldestWaiting.ageMs / 1000),
            }
          : null,
      };
    },
  );
}
