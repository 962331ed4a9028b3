import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { MaintenanceStore } from '../domain/ports/maintenance-store.ts';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';
import { OutageLog } from './outage-log.ts';

/**
 * Jobs that must run once across all processes and hosts sharing a database: retention and
 * pruning. Every process competes for one leader lease in the database; the holder runs the jobs
 * and renews the lease. When it dies, the lease expires and another process takes over within
 * `LEASE_TTL_MS`. (The lease reaper is not among them: it checks process ids, which only a
 * worker in the same PID namespace can do, so each worker runs it for its own.)
 */
export const LEADER_CHECK_INTERVAL_MS = 10_000;
export const LEADER_LEASE_TTL_MS = 30_000;
/** How long idempotency keys are remembered. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;
/** Messages deleted per retention transaction, and the most batches per round. */
const RETENTION_BATCH = 500;
const RETENTION_BATCHES_PER_ROUND = 40;
/**
 * Late matching: unmatched events read per transaction, and the most pages per round. A round
 * looks at up to 20,000 events; the walk resumes where it stopped, so all are seen in time.
 */
const MATCH_PAGE = 1_000;
const MATCH_PAGES_PER_ROUND = 20;
const DAY_MS = 24 * 3600_000;
/**
 * Health rows of workers silent this long are deleted: `GET /v1/providers` stopped showing them
 * after WORKER_GONE_AFTER_MS (10 s); the rows stay a little longer for anyone looking at the table.
 */
const GONE_WORKER_ROWS_KEPT_MS = 60_000;

export interface ClusterJobsDeps {
  store: MaintenanceStore;
  retentionDays: number;
  /** More once-per-cluster jobs, run after the others each round (audit retention, ...). */
  extraJobs?: ((now: number) => Promise<unknown>)[];
  logger: Logger;
  /** Where database failures are logged as state changes; the process shares one. */
  outage?: OutageReporter;
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
  const lease = deps.store.leaderLease('maintenance', holder);
  const logger = deps.logger.child({ component: 'cluster-jobs' });
  const outage = deps.outage ?? new OutageLog(logger);
  let leader = false;
  let running: Promise<boolean> = Promise.resolve(false);
  let stopped = false;

  async function round(): Promise<boolean> {
    // A round queued behind a long one when the stop came is not begun: it would take the lease.
    if (stopped) return false;
    const held = await lease.acquire(LEADER_LEASE_TTL_MS, clock());
    if (held !== leader) {
      leader = held;
      logger.info({ holder }, held ? 'took the maintenance lease' : 'lost the maintenance lease');
    }
    if (!held) return false;
    const now = clock();
    await deps.store.pruneIdempotencyKeys(now - IDEMPOTENCY_KEY_TTL_MS);
    let pruned = 0;
    const cutoff = now - deps.retentionDays * DAY_MS;
    for (let i = 0; i < RETENTION_BATCHES_PER_ROUND; i++) {
      const deleted = await deps.store.pruneFinishedMessages(cutoff, RETENTION_BATCH);
      pruned += deleted;
      if (deleted < RETENTION_BATCH) break;
    }
    await deps.store.matchLateEvents(MATCH_PAGE, MATCH_PAGES_PER_ROUND, now);
    // Events that never matched a message age out like messages do.
    for (let i = 0; i < RETENTION_BATCHES_PER_ROUND; i++) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      const deleted = await deps.store.pruneUnmatchedEvents(cutoff, RETENTION_BATCH);
      if (deleted < RETENTION_BATCH) break;
    }
    // Status-webhook delivery logs age out with the messages they are about.
    await deps.store.pruneStatusWebhooks(cutoff);
    await deps.store.pruneProviderHealth(now - GONE_WORKER_ROWS_KEPT_MS);
    if (pruned > 0) logger.info({ pruned, retentionDays: deps.retentionDays }, 'retention pruned');
    for (const job of deps.extraJobs ?? []) await job(now);
    return true;
  }

  const tick = () => {
    running = running.then(round).then(
      (held) => {
        outage.succeeded('maintenance');
        return held;
      },
      (err: unknown) => {
        // The database may be briefly unreachable; the next round tries again.
        outage.failed('maintenance', err);
        return false;
      },
    );
    return running;
  };
  const timer = setInterval(tick, deps.intervalMs ?? LEADER_CHECK_INTERVAL_MS);
  timer.unref();
  void tick();

  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      if (leader) await lease.release().catch(() => {});
    },
  };
}
