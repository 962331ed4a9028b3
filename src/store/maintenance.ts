import type { MaintenanceStore } from '../domain/ports/maintenance-store.ts';
import type { DatabaseHandle } from './engine/database.ts';
import type { SqlDeliveryEventStore } from './sql-delivery-event-store.ts';
import { SqlLeaderLease } from './sql-leader-lease.ts';
import type { SqlMessageStore } from './sql-message-store.ts';

/** The maintenance jobs' storage, over the stores that own each table. */
export function createMaintenanceStore(
  database: DatabaseHandle,
  messages: SqlMessageStore,
  deliveryEvents?: SqlDeliveryEventStore,
): MaintenanceStore {
  return {
    leaderLease: (name, holder) => new SqlLeaderLease(database, name, holder),
    pruneIdempotencyKeys: (olderThan) => messages.pruneIdempotencyKeys(olderThan),
    pruneFinishedMessages: (before, limit) => messages.pruneFinished(before, limit),
    matchLateEvents: async (pageSize, maxPages, now) =>
      deliveryEvents ? deliveryEvents.matchLater(pageSize, maxPages, now) : 0,
    pruneUnmatchedEvents: async (before, limit) =>
      deliveryEvents ? deliveryEvents.pruneUnmatched(before, limit) : 0,
    async pruneStatusWebhooks(before) {
      const result = await database.db
        .deleteFrom('webhook_deliveries')
        .where('status', 'in', ['delivered', 'failed'])
        .where('created_at', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    async pruneProviderHealth(before) {
      const result = await database.db
        .deleteFrom('provider_health')
        .where('updated_at', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
