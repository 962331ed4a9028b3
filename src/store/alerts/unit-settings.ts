import type { UnitAlertOverrides } from '../../domain/alerts/rules.ts';
import type { UnitAlertSettings } from '../../domain/ports/alert-store.ts';
import { isPriority, type Priority } from '../../domain/priority.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { UnitAlertSettingsTable } from '../schema.ts';

function overridesOf(json: string): UnitAlertOverrides {
  try {
    const o = JSON.parse(json) as Record<string, unknown>;
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    return {
      delayMs: n(o.delay_s) === undefined ? undefined : (n(o.delay_s) as number) * 1000,
      deadLetters: n(o.dead_letters),
      unconfirmed: n(o.unconfirmed),
      muted: o.muted === true ? true : undefined,
    };
  } catch {
    return {};
  }
}

/** The sending limit shares the row's JSON with the alert thresholds (no column of its own). */
function rateLimitOf(json: string): number | null {
  try {
    const v = (JSON.parse(json) as Record<string, unknown>).rate_limit_per_min;
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
  } catch {
    return null;
  }
}

/** So does the default priority. */
function defaultPriorityOf(json: string): Priority | null {
  try {
    const v = (JSON.parse(json) as Record<string, unknown>).default_priority;
    return isPriority(v) ? v : null;
  } catch {
    return null;
  }
}

const toSettings = (r: UnitAlertSettingsTable): UnitAlertSettings => ({
  unitId: r.unit_id,
  slackWebhookUrl: r.slack_webhook_url,
  overrides: overridesOf(r.overrides),
  rateLimitPerMin: rateLimitOf(r.overrides),
  defaultPriority: defaultPriorityOf(r.overrides),
  updatedAt: Number(r.updated_at),
});

export async function allUnitSettings(handle: DatabaseHandle): Promise<UnitAlertSettings[]> {
  const rows = await handle.db.selectFrom('unit_alert_settings').selectAll().execute();
  return rows.map(toSettings);
}

export async function unitSettingsOf(
  handle: DatabaseHandle,
  unitId: string,
): Promise<UnitAlertSettings | null> {
  const row = await handle.db
    .selectFrom('unit_alert_settings')
    .selectAll()
    .where('unit_id', '=', unitId)
    .executeTakeFirst();
  return row ? toSettings(row) : null;
}

export async function setUnitSettings(handle: DatabaseHandle, s: UnitAlertSettings): Promise<void> {
  const o = s.overrides;
  const row = {
    unit_id: s.unitId,
    slack_webhook_url: s.slackWebhookUrl,
    overrides: JSON.stringify({
      delay_s: o.delayMs === undefined ? undefined : o.delayMs / 1000,
      dead_letters: o.deadLetters,
      unconfirmed: o.unconfirmed,
      muted: o.muted,
      rate_limit_per_min: s.rateLimitPerMin ?? undefined,
      default_priority: s.defaultPriority ?? undefined,
    }),
    updated_at: s.updatedAt,
  };
  await handle.db
    .insertInto('unit_alert_settings')
    .values(row)
    .onConflict((oc) =>
      oc.column('unit_id').doUpdateSet({
        slack_webhook_url: row.slack_webhook_url,
        overrides: row.overrides,
        updated_at: row.updated_at,
      }),
    )
    .execute();
}
