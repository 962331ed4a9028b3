import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { canonicalJsonHash } from '../domain/canonical-json.ts';
import { oneAtATime } from '../domain/one-at-a-time.ts';
import type { MessageStore } from '../domain/ports/message-store.ts';
import { ApiError } from './errors.ts';
import { setLocation } from './location.ts';

/**
 * `Idempotency-Key` on submissions: a repeated key with the same request gets the stored answer
 * again (marked `idempotent-replayed`), with another request a 409. The key is claimed together
 * with the messages it stored (accept-messages.ts).
 */

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key, or null without one; a 400 for a malformed one. */
export function idempotencyKey(request: FastifyRequest): string | null {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return null;
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (key === undefined || !IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError('invalid_request', 'the Idempotency-Key header is invalid', [
      { field: 'header.idempotency-key', message: 'must be 1 to 255 printable ASCII characters' },
    ]);
  }
  return key;
}

const requestHashes = new WeakMap<FastifyRequest, string>();

/**
 * What a repeated Idempotency-Key is compared by: the route and the body as canonical JSON, so a
 * retry whose JSON has its keys in another order is still the same request.
 */
export function requestHash(request: FastifyRequest): string {
  let hash = requestHashes.get(request);
  if (hash === undefined) {
    hash = canonicalJsonHash(`${request.routeOptions.url}\n`, request.body);
    requestHashes.set(request, hash);
  }
  return hash;
}

/**
 * The hash stored before hashes were canonical (bodies as sent, key order included), so a retry
 * that spans an upgrade still replays; such keys are gone 24 hours after the upgrade.
 */
function legacyRequestHash(request: FastifyRequest): string | null {
  try {
    return createHash('sha256')
      .update(`${request.routeOptions.url}\n${JSON.stringify(request.body)}`)
      .digest('hex');
  } catch {
    return null; // nested too deeply to serialise: it cannot have been stored that way either
  }
}

/**
 * For a repeated Idempotency-Key: sends the original answer and returns true, or throws a 409 if
 * the body differs. (It must not return the reply itself: a reply is a thenable, so an async
 * function returning it resolves to undefined once sent, and the caller would carry on.)
 */
export async function replayIfKnown(
  request: FastifyRequest,
  reply: FastifyReply,
  messages: MessageStore,
  locate?: Locate,
): Promise<boolean> {
  const key = idempotencyKey(request);
  if (key === null || !request.apiKey) return false;
  const known = await messages.findIdempotent(request.apiKey.id, key);
  if (!known) return false;
  if (
    known.requestHash !== requestHash(request) &&
    known.requestHash !== legacyRequestHash(request)
  )
    throw reusedKey();
  sendStored<never>(reply, known.status, known.body, locate);
  return true;
}

/** Keys being handled by a request of this process, until its handler has finished. */
const keysInUse = new WeakMap<MessageStore, Map<string, Promise<unknown>>>();

/**
 * Runs a submission's handler once no other request of this process with the same API key and
 * Idempotency-Key is being handled. A client's retries that arrive while its first try is still
 * being stored then find its stored answer: they would otherwise find nothing yet, and each take
 * a place under the unit's sending limit (a 429) before being found to be replays. The key is
 * held until the handler ends, whether or not the client is still there to be answered. (Across
 * API processes the database's lock on the key still keeps them from being stored twice.)
 */
export async function oneRequestPerKey<T>(
  request: FastifyRequest,
  messages: MessageStore,
  handle: () => Promise<T>,
): Promise<T> {
  const key = idempotencyKey(request);
  if (key === null || !request.apiKey) return handle();
  const scoped = `${request.apiKey.id}\n${key}`;
  let inUse = keysInUse.get(messages);
  if (!inUse) {
    inUse = new Map();
    keysInUse.set(messages, inUse);
  }
  return oneAtATime(inUse, scoped, handle);
}

export function reusedKey(): ApiError {
  return new ApiError(
    'idempotency_key_reused',
    'this Idempotency-Key was already used with a different request body; use a new key for a new request',
  );
}

/**
 * Where an answer's body says the thing it made is (its `Location`), or null: for a route whose
 * answer names one thing it made.
 */
export type Locate = (body: unknown) => string | null;

/**
 * Sends a stored answer verbatim, with the `Location` its body names (`locate`) as the first
 * answer had it. Returns the reply, which tells Fastify the answer is already sent; typed as the
 * route's payload so handlers can return it on any path.
 */
export function sendStored<T>(
  reply: FastifyReply,
  status: number,
  body: string,
  locate?: Locate,
): T {
  void reply.status(status).header('idempotent-replayed', 'true').type('application/json');
  const where = locate && status >= 200 && status < 300 ? locate(parseStored(body)) : null;
  if (where !== null) setLocation(reply, where);
  return reply.serializer((payload: unknown) => payload as string).send(body) as T;
}

function parseStored(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return null; // stored by this API as JSON; a body that is not names nothing
  }
}
