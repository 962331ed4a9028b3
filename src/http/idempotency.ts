import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { MessageStore } from '../domain/ports/message-store.ts';
import { ApiError } from './errors.ts';
import { canonicalJsonHash } from './json-body.ts';

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
): Promise<boolean> {
  const key = idempotencyKey(request);
  if (key === null || !request.apiKey) return false;
  await oneAtATime(messages, `${request.apiKey.id}\n${key}`, reply);
  const known = await messages.findIdempotent(request.apiKey.id, key);
  if (!known) return false;
  if (
    known.requestHash !== requestHash(request) &&
    known.requestHash !== legacyRequestHash(request)
  )
    throw reusedKey();
  sendStored<never>(reply, known.status, known.body);
  return true;
}

/** Requests of this process holding an API key's Idempotency-Key, until they are answered. */
const requestsInFlight = new WeakMap<MessageStore, Map<string, Promise<void>>>();

/**
 * Waits until no other request of this process with the same key is being handled, then holds
 * the key until this request is answered. A client's retries sent while the first try is still
 * being stored then get its stored answer: they would otherwise find nothing yet, and each take
 * a place under the unit's sending limit (a 429) before being found to be replays. (Across API
 * processes the database's lock on the key still keeps them from being stored twice.)
 */
async function oneAtATime(messages: MessageStore, scoped: string, reply: FastifyReply) {
  let flights = requestsInFlight.get(messages);
  if (!flights) {
    flights = new Map();
    requestsInFlight.set(messages, flights);
  }
  for (let running = flights.get(scoped); running; running = flights.get(scoped)) {
    await running;
  }
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  flights.set(scoped, held);
  const done = () => {
    if (flights.get(scoped) === held) flights.delete(scoped);
    release();
  };
  // `close` comes after the answer is sent, or when the client goes away first.
  reply.raw.once('close', done);
}

export function reusedKey(): ApiError {
  return new ApiError(
    'idempotency_key_reused',
    'this Idempotency-Key was already used with a different request body; use a new key for a new request',
  );
}

/**
 * Sends a stored answer verbatim. Returns the reply, which tells Fastify the answer is already
 * sent; typed as the route's payload so handlers can return it on any path.
 */
export function sendStored<T>(reply: FastifyReply, status: number, body: string): T {
  void reply.status(status).header('idempotent-replayed', 'true').type('application/json');
  return reply.serializer((payload: unknown) => payload as string).send(body) as T;
}
