import type { AlertStore } from '../../domain/ports/alert-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { firingAlerts, getAlert, listAlerts } from './list-alerts.ts';
import {
  dueNotifications,
  notificationDropped,
  notificationFailed,
  notificationSent,
  notificationSuperseded,
  undeliveredNotifications,
  unitChannelsNotified,
} from './notifications.ts';
import { openAlert } from './open-alert.ts';
import { pruneAlerts } from './prune.ts';
import { saveAlert } from './save-alert.ts';
import { allUnitSettings, changeUnitSettings, unitSettingsOf } from './unit-settings.ts';

/** Alerts, their notifications and the units' alert settings (domain/ports/alert-store.ts). */
export function createAlertStore(handle: DatabaseHandle): AlertStore {
  return {
    firing: () => firingAlerts(handle),
    open: (alert, notifications) => openAlert(handle, alert, notifications),
    save: (alert, notifications) => saveAlert(handle, alert, notifications),
    list: (filter) => listAlerts(handle, filter),
    get: (id) => getAlert(handle, id),
    dueNotifications: (now, limit) => dueNotifications(handle, now, limit),
    notificationSent: (id, now) => notificationSent(handle, id, now),
    notificationFailed: (id, error, retryAt) => notificationFailed(handle, id, error, retryAt),
    notificationSuperseded: (id) => notificationSuperseded(handle, id),
    notificationDropped: (id, reason) => notificationDropped(handle, id, reason),
    unitChannelsNotified: (alertId) => unitChannelsNotified(handle, alertId),
    undeliveredNotifications: (since) => undeliveredNotifications(handle, since),
    unitSettings: () => allUnitSettings(handle),
    unitSettingsOf: (unitId) => unitSettingsOf(handle, unitId),
    changeUnitSettings: (unitId, change, now, audit) =>
      changeUnitSettings(handle, unitId, change, now, audit),
    prune: (before) => pruneAlerts(handle, before),
  };
}
