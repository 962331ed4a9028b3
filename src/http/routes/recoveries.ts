import { Type } from '@sinclair/typebox';
import { parseMessageQuery } from '../../domain/operations/message-query.ts';
import {
  MAX_RATE_PER_S,
  RECOVERY_ACTIONS,
  type RecoveryRecord,
} from '../../domain/operations/recovery.ts';
import type { OperationsService } from '../../domain/operations/service.ts';
import { ApiError } from '../errors.ts';
import { RecoveryFilterSchema } from '../message-query-schema.ts';
import { presentMessage } from '../present/message.ts';
import { ErrorSchema, IdParamsSchema, MessageSchema } from '../schemas.ts';
import { actorOf, scopeOf } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';

const BodySchema = Type.Object(
  {
    action: Type.Union(
      RECOVERY_ACTIONS.map((a) => Type.Literal(a)),
      {
        description:
          'retry: failed messages go back to the queue with a fresh retry budget; cancel: queued and scheduled messages are cancelled',
      },
    ),
    filter: RecoveryFilterSchema,
    dry_run: Type.Optional(
      Type.Boolean({ description: 'Default true: only count. false starts the recovery.' }),
    ),
    rate_per_s: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_RATE_PER_S,
        description: 'at most this many messages per second (default: as fast as it goes)',
      }),
    ),
  },
  { additionalProperties: false },
);

const RecoverySchema = Type.Object({
  id: Type.String(),
  action: Type.String(),
  state: Type.String({ description: 'running, done, cancelled or failed' }),
  unit: Type.Union([Type.String(), Type.Null()], {
    description: 'the unit it is confined to; null: every unit',
  }),
  filter: Type.Record(Type.String(), Type.Unknown()),
  rate_per_s: Type.Union([Type.Integer(), Type.Null()]),
  matched: Type.Integer({ description: 'messages in its set, fixed when it started' }),
  done: Type.Integer({ description: 'messages acted on' }),
  skipped: Type.Integer(),
  skipped_reasons: Type.Record(Type.String(), Type.Integer(), {
    description:
      'already_sent, cancelled, in_other_recovery, not_failed, not_cancellable, not_found, recovery_cancelled',
  }),
  pending: Type.Integer({ description: 'messages still to work through' }),
  started_by: Type.Object({
    type: Type.String({ description: 'key, cli or console' }),
    id: Type.String(),
    name: Type.Union([Type.String(), Type.Null()]),
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
  finished_at: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});

const Count = (key: string) =>
  Type.Array(
    Type.Object({ [key]: Type.Union([Type.String(), Type.Null()]), count: Type.Integer() }),
  );

const DryRunSchema = Type.Object({
  dry_run: Type.Literal(true),
  action: Type.String(),
  filter: Type.Record(Type.String(), Type.Unknown()),
  matched: Type.Integer(),
  actionable: Type.Integer({
    description: 'of the matched, how many the action applies to now (the rest would be skipped)',
  }),
  in_other_recovery: Type.Integer(),
  by_status: Type.Record(Type.String(), Type.Integer()),
  by_error_class: Count('error_class'),
  by_unit: Count('unit'),
  sample: Type.Array(MessageSchema, { description: 'up to 20 of the matched, newest first' }),
});

const ListQuerySchema = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 200, default 50' }),
    ),
  },
  { additionalProperties: false },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function presentRecovery(r: RecoveryRecord, units: Map<string, string>) {
  return {
    id: r.id,
    action: r.action,
    state: r.state,
    unit: r.unitId === null ? null : (units.get(r.unitId) ?? r.unitId),
    filter: r.filter,
    rate_per_s: r.ratePerS,
    matched: r.matched,
    done: r.done,
    skipped: r.skipped,
    skipped_reasons: r.skippedReasons as Record<string, number>,
    pending: Math.max(0, r.matched - r.done - r.skipped),
    started_by: r.actor,
    created_at: iso(r.createdAt) as string,
    updated_at: iso(r.updatedAt) as string,
    finished_at: iso(r.finishedAt),
    error: r.error,
  };
}

/** Bulk recovery: dry run, start, watch, list and stop (domain/operations/recovery.ts). */
export function registerRecoveryRoutes(app: TypedApp, operations: OperationsService): void {
  const present = async (records: RecoveryRecord[]) => {
    const units = await operations.unitNames(records.flatMap((r) => (r.unitId ? [r.unitId] : [])));
    return records.map((r) => presentRecovery(r, units));
  };

  app.post(
    '/recoveries',
    {
      schema: {
        tags: ['operations'],
        summary: 'Retry or cancel every message of a filter: a dry run (default) or a recovery',
        description:
          'With dry_run (the default) nothing changes: the answer counts what the filter matches. With "dry_run": false the set is fixed now and worked through in chunks: 202 and the recovery.',
        body: BodySchema,
        response: { 200: DryRunSchema, 202: RecoverySchema, 400: ErrorSchema },
      },
    },
    async (request, reply) => {
      const { query, errors } = parseMessageQuery(request.body.filter, {
        fieldPrefix: 'filter.',
        allowReason: true,
      });
      if (errors.length > 0)
        throw new ApiError('invalid_request', 'the recovery is invalid; see details', errors);
      const scope = scopeOf(request);
      const recovery = {
        action: request.body.action,
        query,
        ...(request.body.rate_per_s !== undefined ? { ratePerS: request.body.rate_per_s } : {}),
      };
      if (request.body.dry_run !== false) {
        const result = await operations.dryRun(scope, recovery);
        const { breakdown } = result;
        const units = await operations.unitNames(breakdown.byUnitId.keys());
        const applies = request.body.action === 'retry' ? ['failed'] : ['queued', 'scheduled'];
        const sorted = <K>(map: Map<K, number>) => [...map].sort((a, b) => b[1] - a[1]);
        void reply.code(200);
        return {
          dry_run: true as const,
          action: result.action,
          filter: result.filter,
          matched: breakdown.matched,
          actionable: applies.reduce((n, s) => n + (breakdown.byStatus.get(s) ?? 0), 0),
          in_other_recovery: breakdown.inOtherRecovery,
          by_status: Object.fromEntries(breakdown.byStatus),
          by_error_class: sorted(breakdown.byErrorClass).map(([error_class, count]) => ({
            error_class,
            count,
          })),
          by_unit: sorted(breakdown.byUnitId).map(([id, count]) => ({
            unit: units.get(id) ?? id,
            count,
          })),
          sample: result.sample.map((m) => presentMessage(m, false)),
        };
      }
      const record = await operations.startRecovery(scope, actorOf(request), recovery);
      void reply.code(202);
      return (await present([record]))[0];
    },
  );

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
      const limit = Number(request.query.limit ?? 50);
      const details = [];
      if (limit < 1 || limit > 200)
        details.push({ field: 'querystring.limit', message: 'must be 1 to 200' });
      let beforeId: string | undefined;
      if (request.query.cursor !== undefined) {
        beforeId = Buffer.from(request.query.cursor, 'base64url').toString('utf8');
        if (!/^rec_[0-9A-Z]{26}$/.test(beforeId))
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
      const shown = records.slice(0, limit);
      const last = shown[shown.length - 1];
      return {
        data: await present(shown),
        next_cursor:
          records.length > limit && last ? Buffer.from(last.id).toString('base64url') : null,
      };
    },
  );

  app.get(
    '/recoveries/:id',
    {
      schema: {
        tags: ['operations'],
        summary: 'A recovery: its state and progress',
        params: IdParamsSchema,
        response: { 200: RecoverySchema, 404: ErrorSchema },
      },
    },
    async (request) =>
      (await present([await operations.getRecovery(scopeOf(request), request.params.id)]))[0],
  );

  app.post(
    '/recoveries/:id/cancel',
    {
      schema: {
        tags: ['operations'],
        summary: 'Stop a running recovery after its current chunk',
        params: IdParamsSchema,
        response: { 200: RecoverySchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request) =>
      (
        await present([
          await operations.cancelRecovery(scopeOf(request), actorOf(request), request.params.id),
        ])
      )[0],
  );
}
