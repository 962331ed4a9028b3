import { Type } from '@sinclair/typebox';

/** A recovery: its set, state and progress. */
export const RecoverySchema = Type.Object({
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

/** A recovery with what became of the mail it requeued (`GET /v1/recoveries/{id}`). */
export const RecoveryWithOutcomeSchema = Type.Object({
  ...RecoverySchema.properties,
  outcome: Type.Union(
    [
      Type.Object({
        sent: Type.Integer({ description: 'sent since it was requeued' }),
        failed: Type.Integer({ description: 'failed again (dead-lettered)' }),
        waiting: Type.Integer({ description: 'queued, scheduled or being sent' }),
        cancelled: Type.Integer({ description: 'cancelled since' }),
        moved_on: Type.Integer({
          description:
            'requeued again by a later recovery (they count toward that one), or no longer stored',
        }),
      }),
      Type.Null(),
    ],
    {
      description:
        'What became of the messages it requeued (`done`), by their status now; the five add up to `done`. A message counts toward the last recovery that requeued it. Null for a cancel, and for a recovery started before this was kept.',
    },
  ),
});
