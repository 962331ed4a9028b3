/** A lease that one process of a cluster holds at a time (renewed by taking it again). */
export interface LeaderLease {
  /** Takes or renews the lease for `ttlMs`; false while another holder's lease runs. */
  acquire(ttlMs: number, now: number): Promise<boolean>;
  release(): Promise<void>;
}

/** What the once-per-cluster jobs (ops/cluster-jobs.ts) do to storage. */
export interface MaintenanceStore {
  leaderLease(name: string, holder: string): LeaderLease;
  /** Deletes up to `limit` idempotency keys used before `olderThan`, oldest first; returns how many. */
  pruneIdempotencyKeys(olderThan: number, limit: number): Promise<number>;
  /** Deletes up to `limit` finished messages older than `before`; returns how many. */
  pruneFinishedMessages(before: number, limit: number): Promise<number>;
  /** Matches delivery events that arrived before their attempt was recorded. */
  matchLateEvents(pageSize: number, maxPages: number, now: number): Promise<number>;
  /** Deletes up to `limit` delivery events that never matched, received before `before`. */
  pruneUnmatchedEvents(before: number, limit: number): Promise<number>;
  /** Deletes up to `limit` finished status webhooks made before `before`; returns how many. */
  pruneStatusWebhooks(before: number, limit: number): Promise<number>;
  /** Deletes health rows of workers silent since `before`. */
  pruneProviderHealth(before: number): Promise<number>;
}
