import type { DatabaseHandle } from '../engine/handle.ts';

/** Deletes resolved alerts and finished notifications older than `before`. */
export async function pruneAlerts(handle: DatabaseHandle, before: number): Promise<number> {
  return handle.writeTransaction(
    async (trx) => {
      const notes = await trx
        .deleteFrom('alert_notifications')
        .where('state', '<>', 'pending')
        .where('created_at', '<', before)
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
