import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { DatabaseHandle } from './store/database.ts';
import type { SqlDeliveryEventStore } from './store/sql-delivery-event-store.ts';
import { SqlLeaderLease } from './store/sql-leader-lease.ts';
import type { SqlMessageStore } from './store/sql-message-store.ts';

/**
 * Jobs that must run once across all processes and hosts sharing a database: retention and
 * pruning. Every process competes for one leader lease in the database; the holder runs the jobs
 * and renews the lease. When it dies, the lease expires and another process takes over within
 * `LEASE_TTL_MS`. (The lease reaper is not among them: it checks process ids, which only a
 * worker's own host can do, so each worker runs it for its host.)
 */
export const LEADER_CHECK_INTERVAL_MS = 10_000;
export const LEADER_LEASE_TTL_MS = 30_000;
/** How long idempotency keys are remembered. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;
/** Messages deleted per retention transaction, and the most batches per round. */
const RETENTION_BATCH = 500;
const RETENTION_BATCHES_PER_ROUND = 40;
const DAY_MS = 24 * 3600_000;

export interface ClusterJobsDeps {
  database: DatabaseHandle;
  messages: SqlMessageStore;
  /** Matches delivery events that arrived before their attempt was recorded. */
  deliveryEvents?: SqlDeliveryEventStore;
  retentionDays: number;
  /** More once-per-cluster jobs, run after the others each round (audit retention, ...). */
  extraJobs?: ((now: number) => Promise<unknown>)[];
  logger: Logger;
  clock?: () => number;
  intervalMs?: number;
}

export interface ClusterJobs {
  /** Runs one round now: take or renew the lease, and if held, run the jobs. */
  tick(): Promise<boolean>;
  stop(): Promise<void>;
}

export function startClusterJobs(deps: ClusterJobsDeps): ClusterJobs {
  const clock = deps.clock ?? Date.now;
  const holder = `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 10)}`;
  const lease = new SqlLeaderLease(deps.database, 'maintenance', holder);
  const logger = deps.logger.child({ component: 'cluster-jobs' });
  let leader = false;
  let running: Promise<boolean> = Promise.resolve(false);

  async function round(): Promise<boolean> {
    const held = await lease.acquire(LEADER_LEASE_TTL_MS, clock());
    if (held !== leader) {
      leader = held;
      logger.info({ holder }, held ? 'took the maintenance lease' : 'lost the maintenance lease');
    }
    if (!held) return false;
    const now = clock();
    await deps.messages.pruneIdempotencyKeys(now - IDEMPOTENCY_KEY_TTL_MS);
    let pruned = 0;
    const cutoff = now - deps.retentionDays * DAY_MS;
    for (let i = 0; i < RETENTION_BATCHES_PER_ROUND; i++) {
      const deleted = await deps.messages.pruneFinished(cutoff, RETENTION_BATCH);
      pruned += deleted;
      if (deleted < RETENTION_BATCH) break;
    }
    await deps.deliveryEvents?.matchLater(1_000);
    // Status-webhook delivery logs age out with the messages they are about.
    await deps.database.db
      .deleteFrom('webhook_deliveries')
      .where('status', 'in', ['delivered', 'failed'])
      .where('created_at', '<', cutoff)
      .execute();
    await deps.database.db
      .deleteFrom('provider_health')
      .where('updated_at', '<', now - DAY_MS)
      .execute();
    if (pruned > 0) logger.info({ pruned, retentionDays: deps.retentionDays }, 'retention pruned');
    for (const job of deps.extraJobs ?? []) await job(now);
    return true;
  }

  const tick = () => {
    running = running.then(round).catch((err: unknown) => {
      // The database may be briefly unreachable; the next round tries again.
      logger.warn({ err }, 'maintenance round failed');
      return false;
    });
    return running;
  };
  const timer = setInterval(tick, deps.intervalMs ?? LEADER_CHECK_INTERVAL_MS);
  timer.unref();
  void tick();

  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
      if (leader) await lease.release().catch(() => {});
    },
  };
}
