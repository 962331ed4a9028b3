import type { Logger } from 'pino';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';

/**
 * Logs failures of the loops that talk to the database (claiming, recording results, heartbeats,
 * status webhooks, maintenance, storing submissions) as state changes instead of one stack trace
 * per attempt: while the database is away, the worker retries every 250 ms and every request
 * fails, and a log line for each of those buries everything else.
 *
 * - The first failure is logged once, at `error`, with its stack: "failing since …".
 * - Further failures are counted, and summarised at `warn` at most every `summaryEveryMs`.
 * - When things work again, one `warn` line says so and for how long they did not.
 *
 * One instance per process, shared by its loops, so an outage is one "down" and one "back"
 * line, however many loops noticed it.
 */

/** At most one "still failing" line this often. */
export const OUTAGE_SUMMARY_EVERY_MS = 30_000;

/**
 * An operation that has not failed for this long counts as working again as soon as any other
 * succeeds. Operations that run rarely (maintenance every 10 s) or report no success (requests)
 * do not hold the "back" line for long; an operation that keeps failing holds it.
 */
const SETTLE_MS = 5_000;

interface Failures {
  count: number;
  lastAt: number;
}

export class OutageLog implements OutageReporter {
  /** First failure of the current episode; null while everything works. */
  private since: number | null = null;
  private readonly failing = new Map<string, Failures>();
  /**
   * Failures per operation over the whole episode, for the summaries. Kept apart from `failing`,
   * which forgets an operation quiet for SETTLE_MS so that it does not hold the "back" line: the
   * summaries forgot it too, and a burst of 128 results given up (each a message that will be
   * sent twice) vanished from them while claims went on failing (seen in a disk-full drill).
   */
  private readonly counts = new Map<string, number>();
  private failures = 0;
  private unsummarised = 0;
  private lastLineAt = 0;
  private lastError = '';
  /** First success after the latest failure: when things started to work again. */
  private workingSince: number | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
    private readonly summaryEveryMs = OUTAGE_SUMMARY_EVERY_MS,
  ) {}

  /** Whether failures are being counted (an episode began and has not ended). */
  get failingNow(): boolean {
    return this.since !== null;
  }

  failed(operation: string, error: unknown, fields: Record<string, unknown> = {}): void {
    const now = this.clock();
    const entry = this.failing.get(operation);
    if (entry) {
      entry.count++;
      entry.lastAt = now;
    } else {
      this.failing.set(operation, { count: 1, lastAt: now });
    }
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    this.failures++;
    this.workingSince = null;
    this.lastError = `${operation}: ${describe(error)}`;
    if (this.since === null) {
      this.since = now;
      this.lastLineAt = now;
      this.unsummarised = 0;
      this.logger.error(
        { err: error, operation, ...fields },
        `database operations failing since ${iso(now)} (${operation}); further failures are ` +
          `summarised every ${Math.round(this.summaryEveryMs / 1000)} s until they work again`,
      );
      return;
    }
    this.unsummarised++;
    if (now - this.lastLineAt < this.summaryEveryMs) return;
    this.logger.warn(
      {
        since: iso(this.since),
        failures: this.failures,
        operations: Object.fromEntries(this.counts),
        lastError: this.lastError,
      },
      `database operations still failing since ${iso(this.since)}: ${this.unsummarised} ` +
        `failures in the last ${Math.round((now - this.lastLineAt) / 1000)} s`,
    );
    this.lastLineAt = now;
    this.unsummarised = 0;
  }

  /** Cheap when nothing failed: call it after every successful round. */
  succeeded(operation: string): void {
    if (this.since === null) return;
    const now = this.clock();
    this.workingSince ??= now;
    this.failing.delete(operation);
    for (const [op, f] of this.failing) {
      if (now - f.lastAt >= SETTLE_MS) this.failing.delete(op);
    }
    if (this.failing.size > 0) return;
    const since = this.since;
    const backAt = this.workingSince;
    this.logger.warn(
      { since: iso(since), downMs: backAt - since, failures: this.failures },
      `database operations work again after ${((backAt - since) / 1000).toFixed(1)} s ` +
        `(${this.failures} failures since ${iso(since)})`,
    );
    this.since = null;
    this.counts.clear();
    this.failures = 0;
    this.unsummarised = 0;
    this.workingSince = null;
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  // pg reports a refused connection as an AggregateError with an empty message.
  const message = error.message || error.name;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

const iso = (ms: number) => new Date(ms).toISOString();
