import { maskUrl, presentOverrides } from '../../domain/alerts/service.ts';
import type { Unit } from '../../domain/operations/units.ts';
import type { UnitAlertSettings } from '../../domain/ports/alert-store.ts';

/** A unit with its settings, as UnitSchema (src/http/schemas/unit.ts) says. */
export function presentUnit(unit: Unit, settings: UnitAlertSettings) {
  return {
    id: unit.id,
    name: unit.name,
    created_at: new Date(unit.createdAt).toISOString(),
    rate_limit_per_min: settings.rateLimitPerMin,
    default_priority: settings.defaultPriority,
    alerts: {
      slack_webhook_url: maskUrl(settings.slackWebhookUrl),
      thresholds: presentOverrides(settings.overrides),
    },
  };
}
