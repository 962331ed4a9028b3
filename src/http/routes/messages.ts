import { createHash } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_BATCH_MAX_RECIPIENTS } from '../../domain/defaults.ts';
import { newId } from '../../domain/ids.ts';
import { parseMessageQuery } from '../../domain/operations/message-query.ts';
import type {
  IdempotencyClaim,
  NewMessage,
  StateChange,
} from '../../domain/ports/message-store.ts';
import { type MessageInput, validateMessage } from '../../domain/validate-message.ts';
import { type ApiDeps, BATCH_BODY_LIMIT, hasNulCharacter } from '../app.ts';
import { ApiError, type ErrorDetail, MAX_ERROR_DETAILS } from '../errors.ts';
import { canonicalJsonHash } from '../json-body.ts';
import { type Hold, presentMessage } from '../present/message.ts';
import {
  AcceptedSchema,
  BatchInputSchema,
  BatchResultSchema,
  ErrorSchema,
  IdParamsSchema,
  ListQuerySchema,
  MessageInputSchema,
  MessageListSchema,
  MessageSchema,
} from '../schemas.ts';
import { actorOf, scopeOf, scopeUnitId } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';
import { compileSchemaCheck, schemaErrorDetails } from '../validation-errors.ts';
import { configuredProvider, holdReason } from './providers.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

// Batch items are checked one by one, the same way Fastify checks request bodies.
const checkItemShape = compileSchemaCheck(MessageInputSchema);

const errorResponses = {
  400: ErrorSchema,
  401: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  413: ErrorSchema,
};

export function registerMessageRoutes(app: TypedApp, deps: ApiDeps): void {
  const clock = deps.clock ?? Date.now;

  app.post(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Submit one message',
        description:
          'Answers 202 only once the message is durably stored. Send `Idempotency-Key` to make retries safe.',
        body: MessageInputSchema,
        response: { 202: AcceptedSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      if (await replayIfKnown(request, reply, deps)) return reply;
      const now = clock();
      const result = validateMessage(request.body as MessageInput, now);
      if (Array.isArray(result)) {
        throw new ApiError('invalid_request', 'the message is invalid; see details', result);
      }
      const message: NewMessage = {
        id: newId('msg'),
        apiKeyId: request.apiKey?.id ?? null,
        ...(request.apiKey ? { unitId: request.apiKey.unitId } : {}),
        content: result.content,
        sendAt: result.sendAt,
        createdAt: now,
      };
      const body = {
        id: message.id,
        status: result.sendAt === null ? 'queued' : 'scheduled',
      } as const;
      return store(request, reply, deps, [message], 202, body);
    },
  );

  app.post(
    '/messages/batch',
    {
      bodyLimit: BATCH_BODY_LIMIT,
      schema: {
        tags: ['messages'],
        summary: 'Submit up to 1,000 messages',
        description:
          'Each message is validated on its own: valid ones are stored together (atomically), invalid ones are reported per index. 400 if none is valid.',
        body: BatchInputSchema,
        response: { 202: BatchResultSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      if (await replayIfKnown(request, reply, deps)) return reply;
      const items = request.body.messages;
      checkBatchRecipients(items, deps.batchMaxRecipients ?? DEFAULT_BATCH_MAX_RECIPIENTS);
      const now = clock();
      const messages: NewMessage[] = [];
      const results: Static<typeof BatchResultSchema>['results'] = [];
      // One budget of listed problems for the whole answer: once it is used up, later messages
      // are only checked for validity (first problem) and their problems counted, not listed.
      const allDetails: ErrorDetail[] = [];
      let detailsOmitted = 0;
      items.forEach((item, index) => {
        const budget = MAX_ERROR_DETAILS - allDetails.length;
        const shape = checkItemShape(item, budget > 0);
        let found: ErrorDetail[];
        if (!shape.valid) {
          found = schemaErrorDetails(shape.errors);
        } else {
          const result = validateMessage(item as MessageInput, now);
          if (!Array.isArray(result)) {
            const message: NewMessage = {
              id: newId('msg'),
              apiKeyId: request.apiKey?.id ?? null,
              ...(request.apiKey ? { unitId: request.apiKey.unitId } : {}),
              content: result.content,
              sendAt: result.sendAt,
              createdAt: now,
            };
            messages.push(message);
            results.push({
              index,
              id: message.id,
              status: result.sendAt === null ? 'queued' : 'scheduled',
            });
            return;
          }
          found = result;
        }
        const listed = found.slice(0, Math.max(budget, 0));
        const omitted = found.length - listed.length;
        detailsOmitted += omitted;
        const error = new ApiError(
          'invalid_request',
          listed.length > 0
            ? 'the message is invalid; see details'
            : `the message is invalid; its problems are not listed (one answer lists at most ${MAX_ERROR_DETAILS})`,
          listed,
          omitted,
        );
        results.push({ index, error: error.toBody().error });
        const prefix = `messages[${index}]`;
        for (const d of listed)
          allDetails.push({ field: `${prefix}.${d.field}`, message: d.message });
      });
      if (messages.length === 0) {
        throw new ApiError(
          'invalid_request',
          'no message in the batch is valid; see details',
          allDetails,
          detailsOmitted,
        );
      }
      const body = {
        accepted: messages.length,
        rejected: results.length - messages.length,
        results,
      };
      return store(request, reply, deps, messages, 202, body);
    },
  );

  app.get(
    '/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'A message, its recipients and every attempt',
        params: IdParamsSchema,
        response: { 200: MessageSchema, ...errorResponses },
      },
    },
    async (request) => {
      // Another unit's message is not found: a unit key cannot tell it exists.
      const record = await deps.messages.get(request.params.id, scopeUnitId(request));
      if (!record) throw new ApiError('not_found', `no message with id ${request.params.id}`);
      return presentMessage(
        record,
        true,
        await deps.timeline?.(record.id),
        await currentHold(deps, clock()),
      );
    },
  );

  app.get(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Messages, newest first',
        description:
          'Filter by status, unit, recipient (an address or @domain), category, metadata (key=value, repeatable), provider and error class of the last attempt, delivery status, subject words, and creation, update and dead-letter times. `count=true` adds the exact total. Pass `next_cursor` back as `cursor` for the next page.',
        querystring: ListQuerySchema,
        response: { 200: MessageListSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { cursor, limit, unconfirmed, count, ...filters } = request.query;
      const page = parsePage({ cursor, limit });
      const { query, errors } = parseMessageQuery(filters, {
        fieldPrefix: 'querystring.',
        allowReason: false,
      });
      if (errors.length > 0)
        throw new ApiError('invalid_request', 'the query is invalid; see details', errors);
      const filter = await deps.operations.filterFor(scopeOf(request), query);
      if (!filter)
        return { data: [], next_cursor: null, ...(count === 'true' ? { total: 0 } : {}) };
      if (unconfirmed === 'true') {
        filter.unconfirmedSentBefore =
          clock() - (deps.unconfirmedAfterMs ?? DEFAULT_UNCONFIRMED_MS);
      }
      const [records, total] = await Promise.all([
        deps.messages.list({ ...filter, ...page.cursor, limit: page.limit + 1 }),
        count === 'true' ? deps.messages.count(filter) : undefined,
      ]);
      const shown = records.slice(0, page.limit);
      const last = shown[shown.length - 1];
      const hold = await currentHold(deps, clock());
      return {
        data: shown.map((r) => presentMessage(r, false, undefined, hold)),
        next_cursor:
          records.length > page.limit && last ? Buffer.from(last.id).toString('base64url') : null,
        ...(total !== undefined ? { total } : {}),
      };
    },
  );

  app.post(
    '/messages/:id/cancel',
    {
      schema: {
        tags: ['messages'],
        summary: 'Cancel a queued or scheduled message',
        params: IdParamsSchema,
        response: { 200: MessageSchema, ...errorResponses },
      },
    },
    async (request) =>
      stateChangeResult(
        await deps.operations.cancelMessage(scopeOf(request), actorOf(request), request.params.id),
        request.params.id,
        'cancel',
      ),
  );

  app.post(
    '/messages/:id/retry',
    {
      schema: {
        tags: ['messages'],
        summary: 'Send a failed (dead-lettered) message again',
        params: IdParamsSchema,
        response: { 200: MessageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const change = await deps.operations.retryMessage(
        scopeOf(request),
        actorOf(request),
        request.params.id,
      );
      return stateChangeResult(change, request.params.id, 'retry');
    },
  );
}

/** The provider's hold on due mail, looked up once per request; none without provider health. */
async function currentHold(deps: ApiDeps, now: number): Promise<Hold | undefined> {
  if (!deps.providers) return undefined;
  try {
    return { reason: holdReason(await configuredProvider(deps.providers, now)), now };
  } catch {
    // The message itself was read; a hint that cannot be had must not fail the request.
    return undefined;
  }
}

function stateChangeResult(change: StateChange, id: string, action: 'cancel' | 'retry') {
  if (change.kind === 'not_found') throw new ApiError('not_found', `no message with id ${id}`);
  if (change.kind === 'wrong_status') {
    const allowed = action === 'cancel' ? 'queued or scheduled' : 'failed';
    throw new ApiError(
      'invalid_state',
      `cannot ${action} a message that is ${change.status}; only ${allowed} messages can be`,
    );
  }
  return presentMessage(change.record, true);
}

function idempotencyKey(request: FastifyRequest): string | null {
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

/**
 * The recipients of all messages of a batch together are bounded: every message may have 1,000
 * and a batch 1,000 messages, but a million recipients took the API's event loop for seconds.
 * Counted before anything else is checked, so such a batch costs next to nothing.
 */
function checkBatchRecipients(items: unknown[], max: number): void {
  let total = 0;
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    const { to, cc, bcc } = item as Record<string, unknown>;
    for (const list of [to, cc, bcc]) if (Array.isArray(list)) total += list.length;
  }
  if (total > max) {
    throw new ApiError(
      'invalid_request',
      `the batch has ${total} recipients in to/cc/bcc together, more than the ${max} a batch may have; split it into smaller batches`,
      [
        {
          field: 'messages',
          message: `at most ${max} recipients (to, cc and bcc) in all messages`,
        },
      ],
    );
  }
}

const requestHashes = new WeakMap<FastifyRequest, string>();

/**
 * What a repeated Idempotency-Key is compared by: the route and the body as canonical JSON, so a
 * retry whose JSON has its keys in another order is still the same request.
 */
function requestHash(request: FastifyRequest): string {
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
async function replayIfKnown(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: ApiDeps,
): Promise<boolean> {
  const key = idempotencyKey(request);
  if (key === null || !request.apiKey) return false;
  const known = await deps.messages.findIdempotent(request.apiKey.id, key);
  if (!known) return false;
  if (
    known.requestHash !== requestHash(request) &&
    known.requestHash !== legacyRequestHash(request)
  )
    throw reusedKey();
  sendStored<never>(reply, known.status, known.body);
  return true;
}

function reusedKey(): ApiError {
  return new ApiError(
    'idempotency_key_reused',
    'this Idempotency-Key was already used with a different request body; use a new key for a new request',
  );
}

/**
 * Sends a stored answer verbatim. Returns the reply, which tells Fastify the answer is already
 * sent; typed as the route's payload so handlers can return it on any path.
 */
function sendStored<T>(reply: FastifyReply, status: number, body: string): T {
  void reply.status(status).header('idempotent-replayed', 'true').type('application/json');
  return reply.serializer((payload: unknown) => payload as string).send(body) as T;
}

async function store<T extends object>(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: ApiDeps,
  messages: NewMessage[],
  status: number,
  body: T,
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
  let outcome: Awaited<ReturnType<ApiDeps['messages']['submit']>>;
  try {
    outcome = await deps.messages.submit({ messages, ...(idempotency ? { idempotency } : {}) });
  } catch (error) {
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
  if (outcome.kind === 'idempotency_conflict') throw reusedKey();
  if (outcome.kind === 'replay') return sendStored<T>(reply, outcome.status, outcome.body);
  deps.onAccepted?.();
  void reply.status(status);
  return body;
}

/** A provider that accepted mail normally reports on it within minutes. */
export const DEFAULT_UNCONFIRMED_MS = 30 * 60_000;

/** The cursor and page size of a list. */
export function parsePage(query: { cursor?: string | undefined; limit?: string | undefined }): {
  cursor: { beforeId?: string };
  limit: number;
} {
  const details: ErrorDetail[] = [];
  let limit = 50;
  if (query.limit !== undefined) {
    limit = Number(query.limit);
    if (limit < 1 || limit > 500)
      details.push({ field: 'querystring.limit', message: 'must be 1 to 500' });
  }
  const cursor: { beforeId?: string } = {};
  if (query.cursor !== undefined) {
    const id = Buffer.from(query.cursor, 'base64url').toString('utf8');
    if (!/^msg_[0-9A-Z]{26}$/.test(id)) {
      details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
    }
    cursor.beforeId = id;
  }
  if (details.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  return { cursor, limit };
}
