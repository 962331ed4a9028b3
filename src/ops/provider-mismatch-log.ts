import type { Logger } from 'pino';
import type { ProviderHealthStore } from '../domain/ports/provider-health-store.ts';
import { WORKER_GONE_AFTER_MS } from '../domain/provider-circuit.ts';
import {
  describeProviderMismatch,
  type ProviderMismatch,
  workersProviderMismatch,
} from '../domain/provider-health.ts';

/**
 * Tells the log of an API process when the workers send through another provider than its own
 * TEGAMI_PROVIDER (`/readyz` and `GET /v1/providers` say it too, but only to whoever asks): one
 * `warn` line when it starts or changes, one `info` line when it is over. Workers may start
 * after the API, so it looks at start and then every WORKER_GONE_AFTER_MS: one small read of the
 * workers' heartbeats.
 */
export class ProviderMismatchLog {
  private timer: NodeJS.Timeout | null = null;
  /** What was said last: the mismatch as a key, or '' for none. */
  private said = '';
  private checking: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      health: ProviderHealthStore;
      configured: string;
      logger: Logger;
      clock?: () => number;
      everyMs?: number;
    },
  ) {}

  start(): void {
    if (this.timer) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), this.deps.everyMs ?? WORKER_GONE_AFTER_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.checking;
  }

  /** One look; a failed read says nothing (the database's own outage is logged elsewhere). */
  check(): Promise<void> {
    this.checking ??= this.look().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async look(): Promise<void> {
    const { health, configured, logger } = this.deps;
    let mismatch: ProviderMismatch | null;
    try {
      const now = (this.deps.clock ?? Date.now)();
      mismatch = workersProviderMismatch(await health.list(), configured, now);
    } catch {
      return;
    }
    const key = mismatch ? JSON.stringify(mismatch.workers.map((w) => w.provider)) : '';
    if (key === this.said) return;
    this.said = key;
    if (mismatch) {
      logger.warn(
        { configured, workersProviders: mismatch.workers },
        `workers send through another provider: ${describeProviderMismatch(mismatch)}`,
      );
    } else {
      logger.info(
        { configured },
        `no worker sends through another provider than ${configured} (this process's TEGAMI_PROVIDER) any more`,
      );
    }
  }
}
