import { Type } from '@sinclair/typebox';
import { parseMessageQuery } from '../../../domain/operations/message-query.ts';
import {
  ACTION_APPLIES_TO,
  failingAgainAtOnce,
  MAX_RATE_PER_S,
  RECOVERY_ACTIONS,
} from '../../../domain/operations/recovery.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { ApiError } from '../../errors.ts';
import { setLocation, withLocation } from '../../location.ts';
import { unitNamedIn } from '../../map-errors.ts';
import { presentMessage } from '../../present/message.ts';
import { presentRecoveries } from '../../present/recovery.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { MessageSchema } from '../../schemas/message.ts';
import { RecoveryFilterSchema } from '../../schemas/message-query.ts';
import { CountList } from '../../schemas/parts.ts';
import { RecoverySchema } from '../../schemas/recovery.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

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

const DryRunSchema = Type.Object({
  dry_run: Type.Literal(true),
  action: Type.String(),
  filter: Type.Record(Type.String(), Type.Unknown()),
  matched: Type.Integer(),
  actionable: Type.Integer({
    description: 'of the matched, how many the action applies to now (the rest would be skipped)',
  }),
  in_other_recovery: Type.Integer(),
  suppressed: Type.Integer({
    description:
      'for a retry, how many of the matched failed because every recipient is suppressed: a retry fails them again at once while the addresses stay suppressed (remove the suppressions first, or narrow the filter by error_class); 0 for a cancel',
  }),
  by_status: Type.Record(Type.String(), Type.Integer()),
  by_error_class: CountList('error_class'),
  by_unit: CountList('unit'),
  sample: Type.Array(MessageSchema, { description: 'up to 20 of the matched, newest first' }),
});

/** `POST /v1/recoveries`: a dry run (the default) or a recovery started. */
export function registerStartRecovery(app: TypedApp, operations: OperationsService): void {
  app.post(
    '/recoveries',
    {
      schema: {
        tags: ['operations'],
        summary: 'Retry or cancel every message of a filter: a dry run (default) or a recovery',
        description:
          'With dry_run (the default) nothing changes: the answer counts what the filter matches. With "dry_run": false the set is fixed now and worked through in chunks: 202 and the recovery, with `Location: /v1/recoveries/{id}` to follow it.',
        body: BodySchema,
        response: {
          200: DryRunSchema,
          202: withLocation(RecoverySchema, '/v1/recoveries/{id}'),
          400: ErrorSchema,
        },
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
        const result = await unitNamedIn('filter', operations.dryRun(scope, recovery));
        const { breakdown } = result;
        const units = await operations.unitNames(breakdown.byUnitId.keys());
        const applies = ACTION_APPLIES_TO[request.body.action];
        const sorted = <K>(map: Map<K, number>) => [...map].sort((a, b) => b[1] - a[1]);
        void reply.code(200);
        return {
          dry_run: true as const,
          action: result.action,
          filter: result.filter,
          matched: breakdown.matched,
          actionable: applies.reduce((n, s) => n + (breakdown.byStatus.get(s) ?? 0), 0),
          in_other_recovery: breakdown.inOtherRecovery,
          suppressed: failingAgainAtOnce(request.body.action, breakdown.byErrorClass),
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
      const record = await unitNamedIn(
        'filter',
        operations.startRecovery(scope, actorOf(request), recovery),
      );
      void reply.code(202);
      setLocation(reply, `/v1/recoveries/${record.id}`);
      return (await presentRecoveries(operations, [record]))[0];
    },
  );
}
