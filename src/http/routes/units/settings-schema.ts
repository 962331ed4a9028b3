import { Type } from '@sinclair/typebox';
import { maskUrl, presentOverrides } from '../../../domain/alerts/service.ts';
import type { Unit } from '../../../domain/operations/units.ts';
import type { UnitAlertSettings } from '../../../domain/ports/alert-store.ts';
import { presentUnit } from '../../present/unit.ts';
import { PrioritySchema } from '../../schemas/priority.ts';

/** A unit with where its alerts go, its own thresholds and its sending limit. */
export const UnitWithAlertsSchema = Type.Object({
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

export function presentUnitWithAlerts(unit: Unit, settings: UnitAlertSettings) {
  return {
    ...presentUnit(unit),
    rate_limit_per_min: settings.rateLimitPerMin,
    default_priority: settings.defaultPriority,
    alerts: {
      slack_webhook_url: maskUrl(settings.slackWebhookUrl),
      thresholds: presentOverrides(settings.overrides),
    },
  };
}
