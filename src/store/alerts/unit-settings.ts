import type { UnitAlertOverrides } from '../../domain/alerts/rules.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { UnitAlertSettings } from '../../domain/ports/alert-store.ts';
import { isPriority, type Priority } from '../../domain/priority.ts';
import { insertAuditEvent } from '../audit/insert.ts';
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

/** The settings of those of `unitIds` that have any, in one query. */
export async function settingsOfUnits(
  handle: DatabaseHandle,
  unitIds: readonly string[],
): Promise<UnitAlertSettings[]> {
  if (unitIds.length === 0) return [];
  const rows = await handle.db
    .selectFrom('unit_alert_settings')
    .selectAll()
    .where('unit_id', 'in', [...unitIds])
    .execute();
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

/**
 * Changes a unit's settings in one write transaction, with the `audit` event of what was written:
 * the row is made if missing, then read locked (PostgreSQL `FOR UPDATE`; SQLite takes its write
 * lock at BEGIN), so changes made at the same time by several processes each apply to what the
 * one before wrote, and none is lost.
 */
export function changeUnitSettings(
  handle: DatabaseHandle,
  unitId: string,
  change: (current: UnitAlertSettings) => UnitAlertSettings,
  now: number,
  audit: (next: UnitAlertSettings) => AuditEvent,
): Promise<UnitAlertSettings> {
  return handle.writeTransaction(async (trx) => {
    // A row to lock. Two first changes at once: the second insert waits for the first and
    // then does nothing, and its read below sees the first one's row.
    await trx
      .insertInto('unit_alert_settings')
      .values({ unit_id: unitId, slack_webhook_url: null, overrides: '{}', updated_at: now })
      .onConflict((oc) => oc.column('unit_id').doNothing())
      .execute();
    const row = await handle.dialect
      .lockRowsForUpdate(
        trx.selectFrom('unit_alert_settings').selectAll().where('unit_id', '=', unitId),
      )
      .executeTakeFirstOrThrow();
    const next = change(toSettings(row));
    const o = next.overrides;
    await trx
      .updateTable('unit_alert_settings')
      .set({
        slack_webhook_url: next.slackWebhookUrl,
        overrides: JSON.stringify({
          delay_s: o.delayMs === undefined ? undefined : o.delayMs / 1000,
          dead_letters: o.deadLetters,
          unconfirmed: o.unconfirmed,
          muted: o.muted,
          rate_limit_per_min: next.rateLimitPerMin ?? undefined,
          default_priority: next.defaultPriority ?? undefined,
        }),
        updated_at: next.updatedAt,
      })
      .where('unit_id', '=', unitId)
      .execute();
    await insertAuditEvent(trx, audit(next));
    return next;
  });
}
