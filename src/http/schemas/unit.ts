import { Type } from '@sinclair/typebox';
import { PrioritySchema } from './priority.ts';

/**
 * A business unit with where its alerts go, its own thresholds and its sending limit: the one
 * shape of a unit in every answer (`GET /v1/units`, `GET /v1/units/{id}`, `POST`, `PUT`).
 */
export const UnitSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  rate_limit_per_min: Type.Union([Type.Integer(), Type.Null()], {
    description:
      "the unit's own sending limit (messages per minute); null: TEGAMI_UNIT_RATE_LIMIT_PER_MIN, or none",
  }),
  default_priority: Type.Union([PrioritySchema, Type.Null()], {
    description:
      "the priority of the unit's mail that sets none and whose API key has no default; null: normal",
  }),
  alerts: Type.Object({
    slack_webhook_url: Type.Union([Type.String(), Type.Null()], {
      description:
        "the unit's own Slack channel, masked (the URL is a credential); null: alerts go to TEGAMI_SLACK_WEBHOOK_URL",
    }),
    thresholds: Type.Object(
      {
        delay_s: Type.Optional(Type.Number()),
        dead_letters: Type.Optional(Type.Integer()),
        unconfirmed: Type.Optional(Type.Integer()),
        muted: Type.Optional(Type.Boolean()),
      },
      { description: 'overrides of the global TEGAMI_ALERT_* thresholds; absent: the global one' },
    ),
  }),
});
