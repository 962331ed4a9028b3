import { TimedCache } from './timed-cache.ts';

/**
 * A unit's sending limit: messages accepted per minute, counted in fixed windows aligned to the
 * clock minute, as SendGrid counts (its `X-RateLimit-Reset` is when the current window ends).
 *
 * The count lives in the API process's memory: with several API processes each counts its own
 * share, so the limit holds per process (docs/sendgrid-compatibility.md). Only the limit itself
 * is stored (`PUT /v1/units/{id}`).
 */

export const RATE_LIMIT_WINDOW_MS = 60_000;

/** What one request may do, and what the `X-RateLimit-*` headers say. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Messages per window. */
  limit: number;
  /**
   * Messages the window still takes after this request. A refused request took nothing, so this
   * is what was left before it: a 429 for 3 messages may say 1, and a request of 1 then fits.
   */
  remaining: number;
  /** When the window ends (epoch milliseconds, on a whole minute). */
  resetAt: number;
  /** The window counted in, to give a request back to the right one. */
  windowStart: number;
}

/** Counts messages per unit in one-minute windows; pure apart from the injected clock. */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, { start: number; used: number }>();

  constructor(private readonly clock: () => number = Date.now) {}

  /**
   * Counts `count` messages for `unitId` if they all fit under `limit` in the current window;
   * a request that would go over is refused whole and counts nothing.
   */
  take(unitId: string, count: number, limit: number): RateLimitDecision {
    const now = this.clock();
    const start = Math.floor(now / RATE_LIMIT_WINDOW_MS) * RATE_LIMIT_WINDOW_MS;
    let window = this.windows.get(unitId);
    if (!window || window.start !== start) {
      if (!window) this.forgetOldWindows(start);
      window = { start, used: 0 };
      this.windows.set(unitId, window);
    }
    const allowed = window.used + count <= limit;
    if (allowed) window.used += count;
    return {
      allowed,
      limit,
      remaining: Math.max(0, limit - window.used),
      resetAt: start + RATE_LIMIT_WINDOW_MS,
      windowStart: start,
    };
  }

  /** Returns messages that were counted but not stored (the database refused them). */
  giveBack(unitId: string, count: number, windowStart: number): void {
    const window = this.windows.get(unitId);
    if (window && window.start === windowStart) window.used = Math.max(0, window.used - count);
  }

  /** Units that sent nothing this minute need no entry: keeps the map as small as the active units. */
  private forgetOldWindows(current: number): void {
    for (const [unit, w] of this.windows) if (w.start !== current) this.windows.delete(unit);
  }
}

/** Where a unit's own limit comes from (its settings), and the default for all units. */
export interface UnitRateLimitsDeps {
  /** The unit's own limit per minute, or null (the default applies). */
  limitOf: (unitId: string) => Promise<number | null>;
  /** TEGAMI_UNIT_RATE_LIMIT_PER_MIN; null: units without their own limit are unlimited. */
  defaultPerMin: number | null;
  /** How long a unit's limit, once read, is used without reading it again (default 5 s). */
  cacheMs?: number;
  clock?: () => number;
}

/** A changed limit holds in every API process within this long. */
export const UNIT_LIMIT_CACHE_MS = 5_000;

/** A unit's limit looked up and counted against; what the accepting routes ask. */
export class UnitRateLimits {
  private readonly limiter: FixedWindowLimiter;
  /** Each unit's own limit, read at most every `cacheMs`: accepting mail reads no settings row. */
  private readonly ownLimits: TimedCache<number | null>;

  constructor(private readonly deps: UnitRateLimitsDeps) {
    const clock = deps.clock ?? Date.now;
    this.limiter = new FixedWindowLimiter(clock);
    this.ownLimits = new TimedCache(deps.limitOf, deps.cacheMs ?? UNIT_LIMIT_CACHE_MS, clock);
  }

  /** Null when the unit has no limit (nothing counted). */
  async take(unitId: string, count: number): Promise<RateLimitDecision | null> {
    const limit = (await this.ownLimits.get(unitId)) ?? this.deps.defaultPerMin;
    if (limit === null) return null;
    return this.limiter.take(unitId, count, limit);
  }

  /** Forgets the unit's cached limit: the next request reads it again (after a change here). */
  forget(unitId: string): void {
    this.ownLimits.forget(unitId);
  }

  giveBack(unitId: string, count: number, decision: RateLimitDecision | null): void {
    if (decision?.allowed) this.limiter.giveBack(unitId, count, decision.windowStart);
  }
}
