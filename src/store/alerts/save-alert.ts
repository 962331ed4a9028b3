import type { Alert } from '../../domain/alerts/lifecycle.ts';
import type { QueuedNotification } from '../../domain/ports/alert-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { alertRow, insertNotifications } from './rows.ts';

/** Saves an alert's new evidence or its end, with the notifications that go with it. */
export function saveAlert(
  handle: DatabaseHandle,
  alert: Alert,
  notifications: QueuedNotification[],
): Promise<void> {
  return handle.writeTransaction(async (trx) => {
    const { id, ...row } = alertRow(alert);
    await trx.updateTable('alerts').set(row).where('id', '=', id).execute();
    await insertNotifications(trx, notifications);
  });
}
