import type { Alert } from '../../domain/alerts/lifecycle.ts';
import type { QueuedNotification } from '../../domain/ports/alert-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { alertRow, insertNotifications } from './rows.ts';

/** Inserts a firing alert and its notifications; false if its key already fires. */
export function openAlert(
  handle: DatabaseHandle,
  alert: Alert,
  notifications: QueuedNotification[],
): Promise<boolean> {
  return handle.writeTransaction(async (trx) => {
    const existing = await trx
      .selectFrom('alerts')
      .select('id')
      .where('key', '=', alert.key)
      .where('state', '=', 'firing')
      .executeTakeFirst();
    if (existing) return false;
    await trx.insertInto('alerts').values(alertRow(alert)).execute();
    await insertNotifications(trx, notifications);
    return true;
  });
}
