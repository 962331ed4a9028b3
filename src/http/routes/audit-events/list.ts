import { Type } from '@sinclair/typebox';
import { AUDIT_ACTIONS } from '../../../domain/operations/audit-event.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { unitNamedIn } from '../../map-errors.ts';
import { DEFAULT_PAGE, idCursor, limitParameter, pageOf, parseIdPage } from '../../paging.ts';
import { presentAuditEvent } from '../../present/audit-event.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const QuerySchema = Type.Object(
  {
    actor: Type.Optional(
      Type.String({
        maxLength: 256,
        description:
          "who, as the log names them: an API key's name (every key of that name, revoked ones too; letter case counts) or id (key_…), a console user's e-mail (any letter case) or id (usr_…), an OS user, `bootstrap` for the key from TEGAMI_BOOTSTRAP_API_KEY; `key:`, `console:` or `cli:` before it keeps to actors of that type. Matching nothing: an empty list.",
      }),
    ),
    action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
    unit: Type.Optional(Type.String({ maxLength: 63 })),
    after: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601, inclusive' })),
    before: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601, exclusive' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: limitParameter(DEFAULT_PAGE),
  },
  { additionalProperties: false },
);

const EventSchema = Type.Object({
  id: Type.String(),
  at: Type.String(),
  actor: Type.Object({
    type: Type.String({ description: 'key, cli or console' }),
    id: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
  }),
  unit: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  target_name: Type.Union([Type.String(), Type.Null()], {
    description:
      "what the target is called now: an API key's name (key.*), a unit's name (unit.*, sendgrid_event_relay.*), a console user's e-mail (user.*); null for other targets",
  }),
  filter: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  counts: Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()]),
});

/** `GET /v1/audit-events`: operator actions, newest first; a unit key sees its unit's only. */
export function registerListAuditEvents(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/audit-events',
    {
      schema: {
        tags: ['operations'],
        summary: 'Operator actions, newest first',
        querystring: QuerySchema,
        response: {
          200: Type.Object({
            data: Type.Array(EventSchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          400: ErrorSchema,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const { limit, after, before, beforeId } = parseIdPage(q, 'aud');
      const events = await unitNamedIn(
        'querystring',
        operations.listAudit(scopeOf(request), {
          limit: limit + 1,
          ...(q.actor !== undefined ? { actor: q.actor } : {}),
          ...(q.action !== undefined ? { action: q.action } : {}),
          ...(q.unit !== undefined ? { unit: q.unit } : {}),
          ...(after !== undefined ? { after } : {}),
          ...(before !== undefined ? { before } : {}),
          ...(beforeId ? { beforeId } : {}),
        }),
      );
      const { shown, nextCursor } = pageOf(events, limit, (last) => idCursor(last.id));
      const names = await operations.auditNames(shown);
      return {
        data: shown.map((e) => presentAuditEvent(e, names)),
        next_cursor: nextCursor,
      };
    },
  );
}
