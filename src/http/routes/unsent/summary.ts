import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { parseListFilters } from '../../list-query.ts';
import { unitNamedIn } from '../../map-errors.ts';
import { presentUnsentSummary } from '../../present/unsent.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { CountList } from '../../schemas/parts.ts';
import { UnsentFilterFields } from '../../schemas/unsent-filter.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const SummaryQuerySchema = Type.Object(UnsentFilterFields, { additionalProperties: false });

const SummarySchema = Type.Object({
  total: Type.Integer(),
  by_reason: Type.Record(Type.String(), Type.Integer()),
  by_unit: CountList('unit'),
  by_provider: CountList('provider'),
  by_error_class: CountList('error_class'),
  oldest_waiting: Type.Union([
    Type.Object({ id: Type.String(), due_since: Type.String(), age_s: Type.Integer() }),
    Type.Null(),
  ]),
  oldest_pending: Type.Union([
    Type.Object({
      id: Type.String(),
      reason: Type.String(),
      due_since: Type.String(),
      age_s: Type.Integer(),
    }),
    Type.Null(),
  ]),
});

/** `GET /v1/unsent/summary`: the unsent view counted. */
export function registerUnsentSummary(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/unsent/summary',
    {
      schema: {
        tags: ['operations'],
        summary:
          'Counts of unsent messages by reason, unit, provider and error class, the oldest waiting one, and the oldest not yet taken by the provider',
        querystring: SummaryQuerySchema,
        response: { 200: SummarySchema, 400: ErrorSchema },
      },
    },
    async (request) => {
      const summary = await unitNamedIn(
        'querystring',
        operations.unsentSummary(
          scopeOf(request),
          parseListFilters(request.query, { allowReason: true }),
        ),
      );
      return presentUnsentSummary(summary);
    },
  );
}
