import { Type } from '@sinclair/typebox';
import { ALERT_RULES } from '../../../domain/alerts/rules.ts';
import type { AlertsService } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { unitNamedIn } from '../../map-errors.ts';
import { DEFAULT_PAGE, idCursor, limitParameter, pageOf, parseIdPage } from '../../paging.ts';
import { presentAlert } from '../../present/alert.ts';
import { AlertSchema } from '../../schemas/alert.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const QuerySchema = Type.Object(
  {
    state: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
    rule: Type.Optional(Type.Union(ALERT_RULES.map((r) => Type.Literal(r)))),
    unit: Type.Optional(Type.String({ maxLength: 63 })),
    after: Type.Optional(
      Type.String({ maxLength: 40, description: 'started at or after (ISO 8601)' }),
    ),
    before: Type.Optional(Type.String({ maxLength: 40, description: 'started before (ISO 8601)' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: limitParameter(DEFAULT_PAGE),
  },
  { additionalProperties: false },
);

/** `GET /v1/alerts`: built-in alerts, firing and past, newest first. */
export function registerListAlerts(
  app: TypedApp,
  alerts: AlertsService,
  operations: OperationsService,
): void {
  app.get(
    '/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary:
          'Built-in alerts, newest first: firing and resolved, with their evidence (a unit key sees its unit and provider-wide alerts)',
        querystring: QuerySchema,
        response: {
          200: Type.Object({
            data: Type.Array(AlertSchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          400: ErrorSchema,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const { limit, after, before, beforeId } = parseIdPage(q, 'alt');
      const found = await unitNamedIn(
        'querystring',
        alerts.list(scopeOf(request), {
          limit: limit + 1,
          ...(q.state ? { state: q.state } : {}),
          ...(q.rule ? { rule: q.rule } : {}),
          ...(q.unit !== undefined ? { unit: q.unit } : {}),
          ...(after !== undefined ? { startedAfter: after } : {}),
          ...(before !== undefined ? { startedBefore: before } : {}),
          ...(beforeId ? { beforeId } : {}),
        }),
      );
      const { shown, nextCursor } = pageOf(found, limit, (last) => idCursor(last.id));
      const units = await operations.unitNames(shown.flatMap((a) => (a.unitId ? [a.unitId] : [])));
      return {
        data: shown.map((a) => presentAlert(a, units)),
        next_cursor: nextCursor,
      };
    },
  );
}
