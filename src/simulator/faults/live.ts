/**
 * The faults of one running simulator: the live settings (which the control API and
 * `RunningSimulator.faults` change in place), the outage they started, the token bucket, and the
 * window behind SendGrid's `X-RateLimit-*` headers.
 */
import {
  bucketRemaining,
  type Decision,
  decide,
  type FaultState,
  initialFaultState,
} from './decide.ts';
import { mergeFaultsPatch } from './merge-patch.ts';
import type { Faults } from './settings.ts';

/** What `X-RateLimit-Limit` says when no rate limit is set (requests per second). */
export const NOMINAL_RATE_LIMIT = 10_000;

export class LiveFaults {
  /** The live settings: change a field and the next request sees it. */
  readonly settings: Faults;
  readonly state: FaultState = initialFaultState();
  private startedOutage: Faults['outage'];
  private windowSecond = 0;
  private windowCount = 0;

  constructor(settings: Faults) {
    this.settings = settings;
  }

  /** Starts an outage the moment it appears in the settings; forgets it once it has ended. */
  sync(now: number): void {
    const outage = this.settings.outage;
    if (outage === undefined) {
      this.startedOutage = undefined;
      return;
    }
    if (outage !== this.startedOutage) {
      this.startedOutage = outage;
      this.state.outageEndsAt = now + outage.durationMs;
    } else if (now >= this.state.outageEndsAt) {
      delete this.settings.outage;
      this.startedOutage = undefined;
    }
  }

  /**
   * Replaces every setting (the same object stays live), refills the bucket, restarts outages:
   * a running outage that `next` does not name ends.
   */
  replace(next: Faults, now: number): void {
    this.assign(next);
    this.state.tokens = Number.NaN;
    this.startedOutage = undefined;
    this.sync(now);
  }

  /**
   * Merges a `PATCH /_simulator/faults` body into the settings (see `mergeFaultsPatch`); if it
   * is refused (FaultsError), nothing has changed. A running outage that the patch does not name
   * keeps its end; one it names starts now, and null ends it. The bucket is refilled only when
   * the patch names the rate, so an unrelated change does not hand out a fresh burst.
   */
  merge(patch: unknown, now: number): void {
    const next = mergeFaultsPatch(this.settings, patch);
    const named = (field: keyof Faults) => Object.hasOwn(patch as object, field);
    // sync() knows an outage by its object: given validateFaults' copy, it would start the
    // outage again. Given the same object, it lets it run to its end (or forgets it, if over).
    if (!named('outage') && this.settings.outage !== undefined) next.outage = this.settings.outage;
    this.assign(next);
    if (named('rateLimitPerSecond')) this.state.tokens = Number.NaN;
    this.sync(now);
  }

  /** Makes the live settings object hold exactly `next`. */
  private assign(next: Faults): void {
    const faults = this.settings;
    for (const key of Object.keys(faults)) delete faults[key as keyof Faults];
    Object.assign(faults, next);
  }

  /** What happens to one request at `now` (see `decide`). */
  decide(now: number, random: () => number): Decision {
    return decide(this.settings, this.state, now, random);
  }

  /**
   * The `X-RateLimit-*` values of one answer at `now`, counting it in the current second; a 429
   * passes its Retry-After, and then nothing remains until then.
   */
  rateLimit(
    now: number,
    retryAfterSeconds?: number,
  ): { limit: number; remaining: number; reset: number } {
    const second = Math.floor(now / 1000);
    if (second !== this.windowSecond) {
      this.windowSecond = second;
      this.windowCount = 0;
    }
    this.windowCount++;
    const rate = this.settings.rateLimitPerSecond;
    const limit = rate != null && rate > 0 ? Math.max(1, Math.floor(rate)) : NOMINAL_RATE_LIMIT;
    let remaining =
      bucketRemaining(this.settings, this.state) ?? Math.max(0, limit - this.windowCount);
    let reset = second + 1;
    if (retryAfterSeconds !== undefined) {
      remaining = 0;
      reset = Math.ceil(now / 1000) + retryAfterSeconds;
    }
    return { limit, remaining, reset };
  }
}
