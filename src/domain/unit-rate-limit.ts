import { TimedCache } from './timed-cache.ts';

/**
 * A unit's sending limit: messages accepted per minute, counted in fixed windows aligned to the
 * clock minute, as SendGrid counts (its `X-RateLimit-Reset` is when the current window ends).
 *
 * On SQLite the count lives in the API process's memory (one process takes a file's mail). On
 * PostgreSQL, where several API processes take a unit's mail, they count in one shared window
 * per unit (`SharedWindowCounts`), so the limit holds for the whole cluster, not per process.
 * The limit itself is a unit setting (`PUT /v1/units/{id}`).
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

/**
 * A unit's window counted where every API process counts (PostgreSQL). Losing the counts (a
 * crash, a failover) only lets a unit send up to one more window's worth: they are not kept
 * durably, and need not be.
 */
export interface SharedWindowCounts {
  /**
   * Adds `wanted` to the unit's window starting at `windowStart` if all of it fits under `limit`,
   * else nothing, in one step; the window's count before and after (`after - before` is
   * `wanted` or 0). Never more than fits: a request refused for its size takes no place that
   * another, smaller one of the cluster could have had meanwhile.
   */
  reserve(
    unitId: string,
    windowStart: number,
    wanted: number,
    limit: number,
  ): Promise<{ before: number; after: number }>;
  /** Takes back `count` messages that were counted but not stored. */
  giveBack(unitId: string, windowStart: number, count: number): Promise<void>;
  /** Forgets every window that started before `windowStart`. */
  forgetBefore(windowStart: number): Promise<void>;
}

interface WaitingTake {
  count: number;
  resolve: (decision: RateLimitDecision) => void;
  reject: (error: unknown) => void;
}

/**
 * Takes from shared windows the way the submissions' group commit writes: while one statement
 * for a unit's window is under way, the requests that come meanwhile wait and are counted
 * together by the next, so a busy unit costs one statement per round trip, not one per request,
 * and this process's requests never queue on the row's lock behind each other (a drill: one
 * statement per request, 32 clients of one unit, cost a third of the API's throughput).
 *
 * A round reserves what all its requests want, if it all fits. If not, the requests are chosen
 * in the order they came, each whole or not at all, as many as the window had room for, and
 * those are reserved; this repeats while another process took the room meanwhile. Nothing is
 * reserved for a request that is refused, so nothing is given back: a request too large for
 * what is left never holds places that others of the cluster are refused for meanwhile.
 */
class SharedWindowTakes {
  private readonly rounds = new Map<string, { busy: boolean; waiting: WaitingTake[] }>();

  constructor(private readonly shared: SharedWindowCounts) {}

  take(
    unitId: string,
    windowStart: number,
    count: number,
    limit: number,
  ): Promise<RateLimitDecision> {
    // A limit changed meanwhile starts rounds of its own.
    const key = `${unitId}\u0000${windowStart}\u0000${limit}`;
    let round = this.rounds.get(key);
    if (!round) {
      round = { busy: false, waiting: [] };
      this.rounds.set(key, round);
    }
    const taken = new Promise<RateLimitDecision>((resolve, reject) =>
      round.waiting.push({ count, resolve, reject }),
    );
    if (!round.busy) this.run(key, round, unitId, windowStart, limit);
    return taken;
  }

  private run(
    key: string,
    round: { busy: boolean; waiting: WaitingTake[] },
    unitId: string,
    windowStart: number,
    limit: number,
  ): void {
    const takes = round.waiting.splice(0);
    round.busy = true;
    this.settle(takes, unitId, windowStart, limit)
      .catch((error: unknown) => {
        for (const take of takes) take.reject(error);
      })
      .finally(() => {
        round.busy = false;
        if (round.waiting.length > 0) this.run(key, round, unitId, windowStart, limit);
        else this.rounds.delete(key);
      });
  }

  /** Reserves, in as few statements as it can, the takes that fit, and answers every one. */
  private async settle(
    takes: WaitingTake[],
    unitId: string,
    windowStart: number,
    limit: number,
  ): Promise<void> {
    const decision = (allowed: boolean, used: number): RateLimitDecision => ({
      allowed,
      limit,
      remaining: Math.max(0, limit - used),
      resetAt: windowStart + RATE_LIMIT_WINDOW_MS,
      windowStart,
    });
    let chosen = takes;
    let used = 0;
    // Each try that adds nothing saw another process's count grow: bounded by the limit, so this
    // ends; the bound only guards against a store that misbehaves.
    for (let tries = 0; chosen.length > 0 && tries < MAX_RESERVE_TRIES; tries++) {
      const wanted = chosen.reduce((sum, t) => sum + t.count, 0);
      const { before, after } = await this.shared.reserve(unitId, windowStart, wanted, limit);
      if (after - before === wanted) {
        used = before;
        const accepted = new Set(chosen);
        for (const take of chosen) {
          used += take.count;
          take.resolve(decision(true, used));
        }
        chosen = [];
        for (const take of takes) if (!accepted.has(take)) take.resolve(decision(false, used));
        return;
      }
      // Not all of it fits: in order, each whole or not at all, what the room left takes.
      used = after;
      let room = limit - after;
      const fitting: WaitingTake[] = [];
      for (const take of takes) {
        if (take.count <= room) {
          room -= take.count;
          fitting.push(take);
        }
      }
      chosen = fitting;
    }
    // A refusal tells what the window still takes.
    for (const take of takes) take.resolve(decision(false, used));
  }
}

/** Statements one round of a unit's window may take (see SharedWindowTakes.settle). */
const MAX_RESERVE_TRIES = 8;

/** Where a unit's own limit comes from (its settings), and the default for all units. */
export interface UnitRateLimitsDeps {
  /** The unit's own limit per minute, or null (the default applies). */
  limitOf: (unitId: string) => Promise<number | null>;
  /** TEGAMI_UNIT_RATE_LIMIT_PER_MIN; null: units without their own limit are unlimited. */
  defaultPerMin: number | null;
  /** How long a unit's limit, once read, is used without reading it again (default 5 s). */
  cacheMs?: number;
  clock?: () => number;
  /** Counts shared with the other API processes; absent: this process counts alone. */
  shared?: SharedWindowCounts;
  /** Told when a shared count could not be taken back or forgotten (the request goes on). */
  onSharedError?: (error: unknown) => void;
}

/** A changed limit holds in every API process within this long. */
export const UNIT_LIMIT_CACHE_MS = 5_000;

/** A unit's limit looked up and counted against; what the accepting routes ask. */
export class UnitRateLimits {
  private readonly limiter: FixedWindowLimiter;
  /** Each unit's own limit, read at most every `cacheMs`: accepting mail reads no settings row. */
  private readonly ownLimits: TimedCache<number | null>;

  private readonly clock: () => number;
  private lastWindowSeen = 0;
  private readonly sharedError = (error: unknown) => this.deps.onSharedError?.(error);
  private readonly sharedTakes: SharedWindowTakes | null;

  constructor(private readonly deps: UnitRateLimitsDeps) {
    const clock = deps.clock ?? Date.now;
    this.clock = clock;
    this.sharedTakes = deps.shared ? new SharedWindowTakes(deps.shared) : null;
    this.limiter = new FixedWindowLimiter(clock);
    this.ownLimits = new TimedCache(deps.limitOf, deps.cacheMs ?? UNIT_LIMIT_CACHE_MS, clock);
  }

  /**
   * Null when the unit has no limit (nothing counted). With shared counts, a failure to reach
   * them is thrown: the caller goes on to store the mail, which meets the same outage.
   */
  async take(unitId: string, count: number): Promise<RateLimitDecision | null> {
    const limit = (await this.ownLimits.get(unitId)) ?? this.deps.defaultPerMin;
    if (limit === null) return null;
    const shared = this.deps.shared;
    if (!shared || !this.sharedTakes) return this.limiter.take(unitId, count, limit);
    const now = this.clock();
    const windowStart = Math.floor(now / RATE_LIMIT_WINDOW_MS) * RATE_LIMIT_WINDOW_MS;
    this.forgetEndedWindows(shared, windowStart);
    return this.sharedTakes.take(unitId, windowStart, count, limit);
  }

  /** Forgets the unit's cached limit: the next request reads it again (after a change here). */
  forget(unitId: string): void {
    this.ownLimits.forget(unitId);
  }

  giveBack(unitId: string, count: number, decision: RateLimitDecision | null): void {
    if (!decision?.allowed) return;
    const shared = this.deps.shared;
    if (!shared) {
      this.limiter.giveBack(unitId, count, decision.windowStart);
      return;
    }
    shared.giveBack(unitId, decision.windowStart, count).catch(this.sharedError);
  }

  /**
   * Once per new window this process sees, the windows before the last are forgotten (the last
   * may still take back what a request under way counted in it). Every process does it; any one
   * would do.
   */
  private forgetEndedWindows(shared: SharedWindowCounts, windowStart: number): void {
    if (windowStart === this.lastWindowSeen) return;
    this.lastWindowSeen = windowStart;
    shared.forgetBefore(windowStart - RATE_LIMIT_WINDOW_MS).catch(this.sharedError);
  }
}
