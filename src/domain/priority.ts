import { TimedCache } from './timed-cache.ts';

/**
 * A message's priority: which mail a worker claims first when more is due than it can send.
 *
 * - high:   claimed before everything else that is due (a booking confirmation, a password reset).
 * - normal: the default.
 * - bulk:   newsletters, reminders to every guest: claimed after high and normal mail, except for
 *           a share of every claim (BULK_SHARE), so a steady stream of other mail never starves it.
 *
 * Due time orders mail within one priority. A message's priority comes from the message itself,
 * else its API key's default, else its unit's default, else `normal` (resolvePriority).
 */
export const PRIORITIES = ['high', 'normal', 'bulk'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_PRIORITY: Priority = 'normal';

/** How a priority is stored: the claim reads mail in ascending rank. */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { high: 0, normal: 1, bulk: 2 };

export function isPriority(value: unknown): value is Priority {
  return typeof value === 'string' && (PRIORITIES as readonly string[]).includes(value);
}

export function priorityOfRank(rank: number): Priority {
  return PRIORITIES[rank] ?? DEFAULT_PRIORITY;
}

/** The first of the message's own, its key's and its unit's priority that is set. */
export function resolvePriority(...choices: (Priority | null | undefined)[]): Priority {
  for (const choice of choices) if (choice) return choice;
  return DEFAULT_PRIORITY;
}

/**
 * The share of claimed slots that goes to due bulk mail even while high and normal mail waits:
 * one slot in ten. A 100,000-message bulk backlog then drains at a tenth of the worker's pace
 * at worst, and at full pace as soon as nothing more urgent is due.
 */
export const BULK_ONE_SLOT_IN = 10;
export const BULK_SHARE = 1 / BULK_ONE_SLOT_IN;

/**
 * Slots reserved for bulk mail in each claim, counted per worker so that small claims (a slow
 * provider frees slots one at a time) still give bulk its share over time: each claimed slot
 * earns a tenth of a bulk slot (counted in whole slots, so no rounding drifts), and a bulk slot
 * is reserved once a whole one has been earned.
 */
export class BulkAllowance {
  /** Slots claimed since bulk mail last took a reserved slot. */
  private earned = 0;

  /** Slots to reserve for bulk mail in a claim of `limit` slots. */
  reserve(limit: number): number {
    // Never saved up beyond one claim's worth: after a quiet spell bulk gets its share, not a burst.
    this.earned = Math.min(this.earned + limit, limit + BULK_ONE_SLOT_IN);
    return Math.min(limit, Math.floor(this.earned / BULK_ONE_SLOT_IN));
  }

  /** After the claim: the reserved slots bulk mail actually took are spent. */
  spend(bulkClaimed: number, reserved: number): void {
    this.earned -= Math.min(bulkClaimed, reserved) * BULK_ONE_SLOT_IN;
  }
}

/** How long a unit's default priority is reused before it is read again. */
export const UNIT_PRIORITY_CACHE_MS = 5_000;

/** Each unit's default priority, read at most every UNIT_PRIORITY_CACHE_MS (TimedCache). */
export class UnitDefaultPriorities {
  private readonly priorities: TimedCache<Priority | null>;

  constructor(deps: {
    priorityOf: (unitId: string) => Promise<Priority | null>;
    clock?: () => number;
    cacheMs?: number;
  }) {
    this.priorities = new TimedCache(
      deps.priorityOf,
      deps.cacheMs ?? UNIT_PRIORITY_CACHE_MS,
      deps.clock ?? Date.now,
    );
  }

  of(unitId: string): Promise<Priority | null> {
    return this.priorities.get(unitId);
  }

  forget(unitId: string): void {
    this.priorities.forget(unitId);
  }
}
