import type { LeaderLease, MaintenanceStore } from '../../domain/ports/maintenance-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { SqlDeliveryEventStore } from '../events/store.ts';
import type { SqlMessageStore } from '../messages/store.ts';
import { pruneHealth } from '../provider-health/prune.ts';
import { pruneFinishedDeliveries } from '../status-webhooks/prune-finished.ts';
import { acquireLeaderLease, releaseLeaderLease } from './leader-lease.ts';

/** A lease that at most one process holds at a time (leader-lease.ts). */
export class SqlLeaderLease implements LeaderLease {
  constructor(
    private readonly handle: DatabaseHandle,
    readonly name: string,
    readonly holder: string,
  ) {}

  /** Takes or renews the lease; true when this holder has it until `now + ttlMs`. */
  acquire(ttlMs: number, now: number): Promise<boolean> {
    return acquireLeaderLease(this.handle, this.name, this.holder, ttlMs, now);
  }

  /** Gives the lease up at once (on a clean stop), so another process need not wait it out. */
  release(): Promise<void> {
    return releaseLeaderLease(this.handle, this.name, this.holder);
  }
}

/**
 * The maintenance jobs' storage, over the stores that own each table. Late matching goes through
 * the event store, which keeps the walk's position between rounds; without one there is nothing
 * to match.
 */
export function createMaintenanceStore(
  database: DatabaseHandle,
  messages: Pick<SqlMessageStore, 'pruneIdempotencyKeys' | 'pruneFinished'>,
  deliveryEvents?: Pick<SqlDeliveryEventStore, 'matchLater' | 'pruneUnmatched'>,
): MaintenanceStore {
  return {
    leaderLease: (name, holder) => new SqlLeaderLease(database, name, holder),
    pruneIdempotencyKeys: (olderThan, limit) => messages.pruneIdempotencyKeys(olderThan, limit),
    pruneFinishedMessages: (before, limit) => messages.pruneFinished(before, limit),
    matchLateEvents: async (pageSize, maxPages, now) =>
      deliveryEvents ? deliveryEvents.matchLater(pageSize, maxPages, now) : 0,
    pruneUnmatchedEvents: async (before, limit) =>
      deliveryEvents ? deliveryEvents.pruneUnmatched(before, limit) : 0,
    pruneStatusWebhooks: (before, limit) => pruneFinishedDeliveries(database, before, limit),
    pruneProviderHealth: (before) => pruneHealth(database, before),
  };
}
