import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * Deletes resolved alerts and finished notifications older than `before`, except each firing
 * alert's newest notification to each destination (channel and unit).
 *
 * The notifications are the record of which units' own channels an alert told: its RESOLVED goes
 * to each of them (`unitChannelsNotified`). An outage can outlast the retention, and the units
 * told at its start, whose mail has drained since, get no newer notification to stand for them.
 * Keeping the newest row per destination keeps that record where it already is (no column or
 * table to keep in step with it, no migration), and bounds what a long alert keeps to one row
 * per destination (two when the newest was dropped); once the alert resolves, its rows age out
 * like any other.
 */
export async function pruneAlerts(handle: DatabaseHandle, before: number): Promise<number> {
  return handle.writeTransaction(
    async (trx) => {
      const notes = await trx
        .deleteFrom('alert_notifications')
        .where('state', '<>', 'pending')
        .where('created_at', '<', before)
        .where((eb) =>
          eb.or([
            eb.not(
              eb.exists(
                eb
                  .selectFrom('alerts')
                  .select('alerts.id')
                  .whereRef('alerts.id', '=', 'alert_notifications.alert_id')
                  .where('alerts.state', '=', 'firing'),
              ),
            ),
            // A newer one to the same destination (as `dueNotifications` tells destinations)
            // that was not dropped: a dropped one does not say the destination was told.
            eb.exists(
              eb
                .selectFrom('alert_notifications as newer')
                .select('newer.id')
                .where('newer.state', '<>', 'dropped')
                .whereRef('newer.alert_id', '=', 'alert_notifications.alert_id')
                .whereRef('newer.channel', '=', 'alert_notifications.channel')
                .where((w) =>
                  w.or([
                    w('newer.unit_id', '=', w.ref('alert_notifications.unit_id')),
                    w.and([
                      w('newer.unit_id', 'is', null),
                      w('alert_notifications.unit_id', 'is', null),
                    ]),
                  ]),
                )
                .whereRef('newer.created_at', '>', 'alert_notifications.created_at'),
            ),
          ]),
        )
        .executeTakeFirst();
      const alerts = await trx
        .deleteFrom('alerts')
        .where('state', '=', 'resolved')
        .where('ended_at', '<', before)
        .executeTakeFirst();
      return Number(notes.numDeletedRows) + Number(alerts.numDeletedRows);
    },
    { asyncCommit: true },
  );
}
