import { Type } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** A built-in alert (GET /v1/alerts). */
export const AlertSchema = Type.Object({
  id: Type.String(),
  rule: Type.String({
    description:
      'delivery_delay, provider_failing, dead_letters, silent_event_webhook, unconfirmed',
  }),
  state: Type.String({ description: 'firing or resolved' }),
  severity: Type.String({ description: 'critical or warning' }),
  unit: Nullable(Type.String()),
  provider: Nullable(Type.String()),
  fault: Type.String({
    description: 'whose fault: provider, message (the provider refuses what was sent) or tegami',
  }),
  summary: Type.String(),
  hint: Type.String({ description: 'what to look at first' }),
  started_at: Type.String(),
  ended_at: Nullable(Type.String()),
  last_notified_at: Type.String(),
  evidence: Type.Object({
    count: Type.Number(),
    threshold: Type.Number(),
    since: Nullable(Type.String()),
    top_errors: Type.Array(
      Type.Object({
        error_class: Type.String(),
        count: Type.Integer(),
        sample: Nullable(Type.String({ description: "the provider's own error text" })),
      }),
    ),
    provider: Type.Union([
      Type.Object({
        name: Type.String(),
        state: Type.String(),
        reason: Nullable(Type.String()),
        since: Nullable(Type.String()),
      }),
      Type.Null(),
    ]),
    details: Type.Record(Type.String(), Type.Unknown()),
  }),
});
