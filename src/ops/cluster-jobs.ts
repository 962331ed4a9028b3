import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { MaintenanceStore } from '../domain/ports/maintenance-store.ts';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';
import {
  nothingPruned,
  type RetentionPruned,
  retentionBatchSize,
  retentionPauseMs,
  retentionPrunedText,
} from '../domain/retention.ts';
import { OutageLog } from './outage-log.ts';
import { startRounds } from './rounds.ts';

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
/**
 * How long a round may spend deleting each kind of row, its pauses included (the transactions
 * are sized and spaced by domain/retention.ts). A backlog (a first round after retention was
 * shortened, or after the cluster was stopped for a day: a day's idempotency keys) is worked off
 * over many rounds; a round stays well within LEADER_LEASE_TTL_MS.
 */
const RETENTION_ROUND_MS = {
  idempotencyKeys: 2_000,
  messages: 5_000,
  events: 1_000,
  statusWebhooks: 2_000,
};
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
  /**
   * What other layers delete by a retention (the sets of old recoveries, relay events given up,
   * old audit events), run after the round's own deletions: each says how many it deleted of
   * what, and the round's log line counts it with the rest.
   */
  retentionJobs?: ((now: number) => Promise<Partial<RetentionPruned>>)[];
  /** More once-per-cluster jobs, run last each round (ended console sessions, ...). */
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
  /** A pause between retention transactions, cut short by stop(). */
  let wakePause: (() => void) | null = null;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakePause = null;
        resolve();
      }
      wakePause = done;
    });
  /** The last full transaction of each kind: its size and time, to size the next one by. */
  const previous: Record<
    keyof typeof RETENTION_ROUND_MS,
    { size: number; elapsedMs: number } | undefined
  > = {
    idempotencyKeys: undefined,
    messages: undefined,
    events: undefined,
    statusWebhooks: undefined,
  };

  /** Deletes with `step` until it finds no more, or the kind's time in this round is up. */
  async function pruneInBatches(
    kind: keyof typeof RETENTION_ROUND_MS,
    step: (limit: number) => Promise<number>,
  ): Promise<number> {
    const until = performance.now() + RETENTION_ROUND_MS[kind];
    let deleted = 0;
    for (;;) {
      const size = retentionBatchSize(previous[kind]);
      const began = performance.now();
      const n = await step(size);
      const elapsedMs = performance.now() - began;
      deleted += n;
      if (n < size) return deleted;
      previous[kind] = { size, elapsedMs };
      const wait = retentionPauseMs(elapsedMs);
      if (stopped || performance.now() + wait >= until) return deleted;
      await pause(wait);
      if (stopped) return deleted;
    }
  }

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
    const pruned = nothingPruned();
    pruned.idempotencyKeys = await pruneInBatches('idempotencyKeys', (limit) =>
      deps.store.pruneIdempotencyKeys(now - IDEMPOTENCY_KEY_TTL_MS, limit),
    );
    // Nothing is older than 1970: a retention reaching back further (36,500 days is allowed)
    // has nothing to delete, and an id cannot be made for a time before it.
    const cutoff = Math.max(0, now - deps.retentionDays * DAY_MS);
    pruned.messages = await pruneInBatches('messages', (limit) =>
      deps.store.pruneFinishedMessages(cutoff, limit),
    );
    await deps.store.matchLateEvents(MATCH_PAGE, MATCH_PAGES_PER_ROUND, now);
    // Events that never matched a message age out like messages do.
    pruned.unmatchedEvents = await pruneInBatches('events', (limit) =>
      deps.store.pruneUnmatchedEvents(cutoff, limit),
    );
    // Status-webhook delivery logs age out with the messages they are about.
    pruned.statusWebhooks = await pruneInBatches('statusWebhooks', (limit) =>
      deps.store.pruneStatusWebhooks(cutoff, limit),
    );
    // Housekeeping rather than retention (rows of workers gone a minute ago): not in the log line.
    await deps.store.pruneProviderHealth(now - GONE_WORKER_ROWS_KEPT_MS);
    for (const job of deps.retentionJobs ?? []) {
      const counts = await job(now);
      for (const [kind, n] of Object.entries(counts) as [keyof RetentionPruned, number][]) {
        pruned[kind] += n;
      }
    }
    // Any round that deleted something, expired idempotency keys alone included.
    const prunedText = retentionPrunedText(pruned);
    if (prunedText !== null) {
      const last = previous.messages;
      const { messages, ...others } = pruned;
      logger.info(
        {
          // `pruned` is the messages: the field's name from before the other kinds were logged.
          pruned: messages,
          ...others,
          retentionDays: deps.retentionDays,
          ...(last ? { batch: last.size, batchMs: Math.round(last.elapsedMs) } : {}),
        },
        prunedText,
      );
    }
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
  // Never two rounds at once, and one (not a burst) after a long one: see ops/rounds.ts. The
  // lease is renewed at every round, so never later than the end of a long one.
  const rounds = startRounds(deps.intervalMs ?? LEADER_CHECK_INTERVAL_MS, tick);

  return {
    tick,
    async stop() {
      stopped = true;
      rounds.cancel();
      wakePause?.();
      await running;
      if (leader) await lease.release().catch(() => {});
    },
  };
}
