import type { Logger } from 'pino';
import type { RecoveryWork } from '../domain/operations/ports.ts';
import { chunkSize, pauseAfterChunk } from '../domain/operations/recovery.ts';
import type { LeaseOwners } from '../domain/ports/lease-owners.ts';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';

export interface RecoveryRunnerDeps {
  store: RecoveryWork;
  logger: Logger;
  /** Where database failures are logged as state changes; the process shares one. */
  outage: OutageReporter;
  /**
   * Names this runner's lease and proves a holder dead, by the lease reaper's rule (the wiring
   * gives delivery/lease-owner.ts's): only a holder in this process's own PID namespace whose pid
   * is gone is taken over before its lease runs out.
   */
  leaseOwners: LeaseOwners;
  /** Messages were made due: workers may look at once. */
  onRequeued?: () => void;
  /** Only this recovery (`tegami recover` works its own). */
  only?: string;
  clock?: () => number;
  /** How often to look for running recoveries nobody works on. Default 1 s. */
  pollIntervalMs?: number;
  /** How long a lease lasts without a chunk renewing it. Default 15 s. */
  leaseTtlMs?: number;
}

/** Chunks that failed in a row before the recovery is marked failed. */
const MAX_FAILURES = 10;

/**
 * Works through running recoveries, one at a time, chunk by chunk. Every process that runs the
 * API or a worker (and `tegami recover`) has one. A recovery is leased in the database, so one
 * process works on it at a time, also on PostgreSQL with many processes; each chunk commits with
 * the recovery's progress and renews the lease. When the process dies, its lease runs out (or, in
 * the same PID namespace of the same boot, is taken over at once: its process is provably gone)
 * and another process resumes where the last chunk left off.
 */
export class RecoveryRunner {
  readonly owner: string;
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private current: string | null = null;
  private readonly clock: () => number;
  private readonly ttlMs: number;

  constructor(private readonly deps: RecoveryRunnerDeps) {
    this.owner = deps.leaseOwners.newOwner();
    this.clock = deps.clock ?? Date.now;
    this.ttlMs = deps.leaseTtlMs ?? 15_000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the current chunk and gives up the lease, so another process resumes at once. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loop;
  }

  /** A recovery may have started: look now. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let id: string | null = null;
      try {
        id = await this.pick();
        this.deps.outage.succeeded('looking for recoveries');
      } catch (err) {
        // The database may be away: one line for the outage, not one per poll.
        this.deps.outage.failed('looking for recoveries', err);
      }
      if (id) {
        this.current = id;
        await this.work(id);
        this.current = null;
        continue;
      }
      await this.sleep(this.deps.pollIntervalMs ?? 1_000);
    }
  }

  /** Takes a running recovery that nobody (alive) holds; its id, or null. */
  private async pick(): Promise<string | null> {
    const now = this.clock();
    for (const r of await this.deps.store.running()) {
      if (this.deps.only && r.id !== this.deps.only) continue;
      // Another PID namespace (a container sharing the hostname), an owner of the older
      // `host/pid/random` form, or a pid that exists: alive until its lease runs out.
      const dead =
        r.leaseOwner && this.deps.leaseOwners.isProvablyDead(r.leaseOwner) ? r.leaseOwner : null;
      const free =
        !r.leaseOwner || r.leaseOwner === this.owner || r.leaseExpiresAt < now || dead !== null;
      if (!free) continue;
      if (await this.deps.store.acquire(r.id, this.owner, now, this.ttlMs, dead)) {
        if (dead)
          this.deps.logger.warn(
            { recovery: r.id, deadOwner: dead },
            'resuming a recovery whose process died',
          );
        return r.id;
      }
    }
    return null;
  }

  private async work(id: string): Promise<void> {
    const { store, logger } = this.deps;
    const record = await store.get(id);
    if (!record) return;
    const rate = record.ratePerS;
    let failures = 0;
    // The last chunk's size and how long it held the database, to size the next one by.
    let previous: { size: number; elapsedMs: number } | undefined;
    logger.info(
      { recovery: id, action: record.action, matched: record.matched },
      'working on a recovery',
    );
    while (this.running) {
      const started = this.clock();
      const size = chunkSize(rate, previous);
      let result: Awaited<ReturnType<RecoveryWork['runChunk']>>;
      try {
        const began = performance.now();
        result = await store.runChunk(id, this.owner, started, size, this.ttlMs);
        previous = { size, elapsedMs: performance.now() - began };
        failures = 0;
      } catch (err) {
        failures++;
        logger.error({ err, recovery: id, failures }, 'a recovery chunk failed');
        if (failures >= MAX_FAILURES) {
          await store
            .fail(id, `${failures} chunks failed in a row: ${(err as Error).message}`, this.clock())
            .catch((error: unknown) =>
              logger.error({ err: error }, 'marking the recovery failed failed'),
            );
          return;
        }
        await this.sleep(Math.min(10_000, 250 * 2 ** failures));
        continue;
      }
      if (result.kind === 'lost') return; // cancelled, or another process has it now
      if (result.kind === 'finished') {
        const r = result.record;
        logger.info(
          { recovery: id, matched: r.matched, done: r.done, skipped: r.skipped },
          'recovery finished',
        );
        return;
      }
      logger.debug(
        { recovery: id, size, acted: result.acted, ms: Math.round(previous?.elapsedMs ?? 0) },
        'recovery chunk',
      );
      if (result.acted > 0) this.deps.onRequeued?.();
      const pause = pauseAfterChunk(rate, size, this.clock() - started);
      if (pause > 0) await this.sleep(pause);
      // On SQLite a chunk runs without giving the event loop a turn (the driver is synchronous):
      // let the requests that came in meanwhile be answered before the next one.
      else await new Promise((resolve) => setImmediate(resolve));
    }
    // Stopping: hand the recovery over at once instead of after the lease runs out.
    await store.release(id, this.owner).catch(() => {});
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (this.woken && this.current === null) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = () => {
        // While working, a wake-up (another recovery started) must not cut a rate pause short.
        if (self.current === null || !self.running) done();
      };
    });
  }
}
