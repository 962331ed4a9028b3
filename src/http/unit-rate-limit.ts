import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimitDecision } from '../domain/unit-rate-limit.ts';
import type { ApiDeps } from './deps.ts';

/** SendGrid's rate-limit headers; `X-RateLimit-Reset` is when the window ends, in epoch seconds. */
export function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  return {
    'x-ratelimit-limit': String(d.limit),
    'x-ratelimit-remaining': String(d.remaining),
    'x-ratelimit-reset': String(Math.ceil(d.resetAt / 1000)),
  };
}

/** Seconds until the window ends, at least 1 (a `Retry-After` of 0 invites a busy loop). */
export function retryAfterSeconds(d: RateLimitDecision, now: number): number {
  return Math.max(1, Math.ceil((d.resetAt - now) / 1000));
}

/**
 * Counts `count` messages against the sending limit of the request's unit. Null: no limit (or no
 * limiter wired), nothing counted. The caller refuses the request when `allowed` is false and
 * gives the count back when the messages were not stored after all.
 */
export async function takeUnitLimit(
  request: FastifyRequest,
  deps: Pick<ApiDeps, 'unitRateLimits'>,
  count: number,
): Promise<{ unitId: string; decision: RateLimitDecision } | null> {
  const unitId = request.apiKey?.unitId;
  if (!deps.unitRateLimits || unitId === undefined) return null;
  let decision: RateLimitDecision | null;
  try {
    decision = await deps.unitRateLimits.take(unitId, count);
  } catch {
    // The unit's limit could not be read (the database is away): storing the messages is tried
    // next and answers that outage as it always does (503), instead of a 500 from here.
    return null;
  }
  return decision ? { unitId, decision } : null;
}

export function giveBackUnitLimit(
  deps: Pick<ApiDeps, 'unitRateLimits'>,
  taken: { unitId: string; decision: RateLimitDecision } | null,
  count: number,
): void {
  if (taken) deps.unitRateLimits?.giveBack(taken.unitId, count, taken.decision);
}

export function setRateLimitHeaders(reply: FastifyReply, d: RateLimitDecision): void {
  for (const [name, value] of Object.entries(rateLimitHeaders(d))) void reply.header(name, value);
}
