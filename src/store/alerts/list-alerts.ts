import type { Alert } from '../../domain/alerts/lifecycle.ts';
import type { AlertFilter } from '../../domain/ports/alert-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toAlert } from './rows.ts';

/** Alerts firing now (the `alerts_firing` index). */
export async function firingAlerts(handle: DatabaseHandle): Promise<Alert[]> {
  const rows = await handle.db
    .selectFrom('alerts')
    .selectAll()
    .where('state', '=', 'firing')
    .orderBy('id')
    .execute();
  return rows.map(toAlert);
}

/** Alerts newest first, filtered. */
export async function listAlerts(handle: DatabaseHandle, filter: AlertFilter): Promise<Alert[]> {
  let query = handle.db.selectFrom('alerts').selectAll();
  if (filter.state) query = query.where('state', '=', filter.state);
  if (filter.rule) query = query.where('rule', '=', filter.rule);
  if (filter.unitId !== undefined) {
    const unitId = filter.unitId;
    query = filter.withGlobal
      ? query.where((eb) => eb.or([eb('unit_id', '=', unitId), eb('unit_id', 'is', null)]))
      : query.where('unit_id', '=', unitId);
  }
  if (filter.startedAfter !== undefined)
    query = query.where('started_at', '>=', filter.startedAfter);
  if (filter.startedBefore !== undefined)
    query = query.where('started_at', '<', filter.startedBefore);
  if (filter.beforeId) query = query.where('id', '<', filter.beforeId);
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map(toAlert);
}

export async function getAlert(handle: DatabaseHandle, id: string): Promise<Alert | null> {
  const row = await handle.db
    .selectFrom('alerts')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toAlert(row) : null;
}
