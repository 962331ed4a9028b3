import type { FastifyReply, FastifyRequest } from 'fastify';
import { newId } from '../domain/ids.ts';
import type {
  IdempotencyClaim,
  NewMessage,
  SubmissionOutcome,
} from '../domain/ports/message-store.ts';
import { type Priority, resolvePriority } from '../domain/priority.ts';
import type { ValidMessage } from '../domain/validate-message.ts';
import type { ApiDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { idempotencyKey, type Locate, requestHash, reusedKey, sendStored } from './idempotency.ts';
import { setLocation } from './location.ts';
import { hasNulCharacter } from './map-errors.ts';
import {
  giveBackUnitLimit,
  retryAfterSeconds,
  setRateLimitHeaders,
  takeUnitLimit,
} from './unit-rate-limit.ts';

/** A message to store, from one that passed validation, for the request's API key and unit. */
export function newMessageFrom(
  request: FastifyRequest,
  valid: ValidMessage,
  now: number,
): NewMessage {
  return {
    id: newId('msg'),
    apiKeyId: request.apiKey?.id ?? null,
    ...(request.apiKey ? { unitId: request.apiKey.unitId } : {}),
    content: valid.content,
    sendAt: valid.sendAt,
    createdAt: now,
    ...(valid.priority ? { priority: valid.priority } : {}),
  };
}

/**
 * Gives each message that sets no priority its API key's default, else its unit's, else
 * `normal`. The unit's is read at most every few seconds (UnitDefaultPriorities).
 */
export async function withDefaultPriorities(
  request: FastifyRequest,
  deps: Pick<ApiDeps, 'unitPriorities'>,
  messages: NewMessage[],
): Promise<NewMessage[]> {
  if (messages.every((m) => m.priority)) return messages;
  const key = request.apiKey;
  let unitDefault: Priority | null = null;
  if (key && !key.defaultPriority && deps.unitPriorities) {
    try {
      unitDefault = await deps.unitPriorities.of(key.unitId);
    } catch {
      // The unit's settings could not be read (the database is away): storing the messages is
      // tried next and answers that outage as it always does (503).
    }
  }
  const priority = resolvePriority(key?.defaultPriority, unitDefault);
  return messages.map((m) => (m.priority ? m : { ...m, priority }));
}

/**
 * Stores accepted messages durably, together with the answer under the request's
 * Idempotency-Key, and answers with `status` and `body` (or the stored answer of a retry that
 * raced this one), with the `Location` that `locate` finds in the answer's body.
 */
export async function acceptMessages<T extends object>(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: ApiDeps,
  messages: NewMessage[],
  status: number,
  body: T,
  locate?: Locate,
): Promise<T> {
  const key = idempotencyKey(request);
  const bodyText = JSON.stringify(body);
  let idempotency: IdempotencyClaim | undefined;
  if (key !== null && request.apiKey) {
    idempotency = {
      apiKeyId: request.apiKey.id,
      key,
      requestHash: requestHash(request),
      responseStatus: status,
      responseBody: bodyText,
    };
  }
  // Counted before storing, so two requests at once cannot both take the last of the minute.
  const taken = await takeUnitLimit(request, deps, messages.length);
  if (taken) {
    setRateLimitHeaders(reply, taken.decision);
    if (!taken.decision.allowed) {
      const seconds = retryAfterSeconds(taken.decision, (deps.clock ?? Date.now)());
      void reply.header('retry-after', String(seconds));
      throw new ApiError(
        'rate_limited',
        `the unit may have ${taken.decision.limit} messages accepted per minute; this request's ${messages.length} would go over it (${taken.decision.remaining} left); retry in ${seconds} s`,
      );
    }
  }
  let outcome: SubmissionOutcome;
  try {
    outcome = await deps.messages.submit({
      messages: await withDefaultPriorities(request, deps, messages),
      ...(idempotency ? { idempotency } : {}),
    });
  } catch (error) {
    giveBackUnitLimit(deps, taken, messages.length);
    if (hasNulCharacter(error)) {
      throw new ApiError('invalid_request', 'text must not contain NUL (\\u0000) characters');
    }
    if (deps.outage) deps.outage.failed('storing messages', error);
    else request.log.error({ err: error }, 'storing messages failed');
    throw new ApiError(
      'storage_unavailable',
      'the message could not be stored; retry later with the same Idempotency-Key (if the database lost only its answer, the retry returns the stored result)',
    );
  }
  deps.outage?.succeeded('storing messages');
  if (outcome.kind !== 'stored') giveBackUnitLimit(deps, taken, messages.length);
  if (outcome.kind === 'idempotency_conflict') throw reusedKey();
  if (outcome.kind === 'replay') {
    return sendStored<T>(reply, outcome.status, outcome.body, locate);
  }
  // Mail that queued instead of going to this thread's worker at once (domain/hand-over.ts):
  // wake the workers (this process's, and others' on PostgreSQL).
  if ((outcome.leased?.length ?? 0) < messages.length) deps.onAccepted?.();
  if (deps.telemetry) {
    const byUnit = new Map<string, number>();
    for (const m of messages) {
      const unit = m.unitId ?? 'default';
      byUnit.set(unit, (byUnit.get(unit) ?? 0) + 1);
    }
    for (const [unit, n] of byUnit) deps.telemetry.messagesAccepted(unit, n);
  }
  const where = locate?.(body) ?? null;
  if (where !== null) setLocation(reply, where);
  void reply.status(status);
  return body;
}
