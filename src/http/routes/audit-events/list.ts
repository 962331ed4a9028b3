import { Type } from '@sinclair/typebox';
import { AUDIT_ACTIONS } from '../../../domain/operations/audit.ts';
import { parseIsoTime } from '../../../domain/operations/message-query.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { ApiError, type ErrorDetail } from '../../errors.ts';
import { cursorId, idCursor } from '../../paging.ts';
import { presentAuditEvent } from '../../present/audit-event.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

const QuerySchema = Type.Object(
  {
    actor: Type.Optional(
      Type.String({ maxLength: 256, description: 'a key id (key_…) or an OS user of the CLI' }),
    ),
    action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
    unit: Type.Optional(Type.String({ maxLength: 63 })),
    after: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601, inclusive' })),
    before: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601, exclusive' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 500, default 50' }),
    ),
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
      const details: ErrorDetail[] = [];
      const limit = Number(q.limit ?? 50);
      if (limit < 1 || limit > 500)
        details.push({ field: 'querystring.limit', message: 'must be 1 to 500' });
      const time = (field: 'after' | 'before') => {
        const value = q[field];
        if (value === undefined) return undefined;
        const ms = parseIsoTime(value);
        if (Number.isNaN(ms))
          details.push({ field: `querystring.${field}`, message: 'must be an ISO 8601 time' });
        return ms;
      };
      const after = time('after');
      const before = time('before');
      let beforeId: string | undefined;
      if (q.cursor !== undefined) {
        beforeId = cursorId(q.cursor);
        if (!/^aud_[0-9A-Z]{26}$/.test(beforeId))
          details.push({
            field: 'querystring.cursor',
            message: 'is not a cursor this API returned',
          });
      }
      if (details.length > 0)
        throw new ApiError('invalid_request', 'the query is invalid; see details', details);
      const events = await operations.listAudit(scopeOf(request), {
        limit: limit + 1,
        ...(q.actor !== undefined ? { actorId: q.actor } : {}),
        ...(q.action !== undefined ? { action: q.action } : {}),
        ...(q.unit !== undefined ? { unit: q.unit } : {}),
        ...(after !== undefined ? { after } : {}),
        ...(before !== undefined ? { before } : {}),
        ...(beforeId ? { beforeId } : {}),
      });
      const shown = events.slice(0, limit);
      const units = await operations.unitNames(shown.flatMap((e) => (e.unitId ? [e.unitId] : [])));
      const last = shown[shown.length - 1];
      return {
        data: shown.map((e) => presentAuditEvent(e, units)),
        next_cursor: events.length > limit && last ? idCursor(last.id) : null,
      };
    },
  );
}
