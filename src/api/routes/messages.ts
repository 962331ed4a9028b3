import { createHash } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { newId } from '../../domain/ids.ts';
import type {
  IdempotencyClaim,
  MessageFilter,
  NewMessage,
  StateChange,
} from '../../domain/ports.ts';
import { type MessageInput, validateMessage } from '../../domain/validate-message.ts';
import { type ApiDeps, BATCH_BODY_LIMIT, hasNulCharacter } from '../app.ts';
import { ApiError, type ErrorDetail } from '../error-codes.ts';
import { type Hold, presentMessage } from '../present-message.ts';
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
import type { TypedApp } from '../typed-app.ts';
import { schemaErrorDetails } from '../validation-errors.ts';
import { configuredProvider, holdReason } from './providers.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

// Batch items are validated one by one, with the same options Fastify uses for request bodies.
const itemAjv = new Ajv({
  allErrors: true,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
});
const validateItemShape = itemAjv.compile(MessageInputSchema);

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
      const now = clock();
      const messages: NewMessage[] = [];
      const results: Static<typeof BatchResultSchema>['results'] = [];
      const allDetails: ErrorDetail[] = [];
      request.body.messages.forEach((item, index) => {
        const prefix = `messages[${index}]`;
        let details: ErrorDetail[];
        if (!validateItemShape(item)) {
          details = schemaErrorDetails(validateItemShape.errors ?? []);
        } else {
          const result = validateMessage(item as MessageInput, now);
          if (!Array.isArray(result)) {
            const message: NewMessage = {
              id: newId('msg'),
              apiKeyId: request.apiKey?.id ?? null,
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
          details = result;
        }
        const error = new ApiError(
          'invalid_request',
          'the message is invalid; see details',
          details,
        );
        results.push({ index, error: error.toBody().error });
        allDetails.push(
          ...details.map((d) => ({ field: `${prefix}.${d.field}`, message: d.message })),
        );
      });
      if (messages.length === 0) {
        throw new ApiError(
          'invalid_request',
          'no message in the batch is valid; see details',
          allDetails,
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
      const record = await deps.messages.get(request.params.id);
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
          'Filter by status, recipient, category, metadata (key=value, repeatable) and creation time. Pass `next_cursor` back as `cursor` for the next page.',
        querystring: ListQuerySchema,
        response: { 200: MessageListSchema, ...errorResponses },
      },
    },
    async (request) => {
      const filter = parseListQuery(request.query);
      if (request.query.unconfirmed === 'true') {
        filter.unconfirmedSentBefore =
          clock() - (deps.unconfirmedAfterMs ?? DEFAULT_UNCONFIRMED_MS);
      }
      const records = await deps.messages.list({ ...filter, limit: filter.limit + 1 });
      const page = records.slice(0, filter.limit);
      const last = page[page.length - 1];
      const hold = await currentHold(deps, clock());
      return {
        data: page.map((r) => presentMessage(r, false, undefined, hold)),
        next_cursor:
          records.length > filter.limit && last ? Buffer.from(last.id).toString('base64url') : null,
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
        await deps.messages.cancel(request.params.id, clock()),
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
      const change = await deps.messages.retry(request.params.id, clock());
      if (change.kind === 'changed') deps.onAccepted?.();
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

function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.routeOptions.url}\n${JSON.stringify(request.body)}`)
    .digest('hex');
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
  if (known.requestHash !== requestHash(request)) throw reusedKey();
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
    request.log.error({ err: error }, 'storing messages failed');
    throw new ApiError(
      'storage_unavailable',
      'the message could not be stored; retry later with the same Idempotency-Key (if the database lost only its answer, the retry returns the stored result)',
    );
  }
  if (outcome.kind === 'idempotency_conflict') throw reusedKey();
  if (outcome.kind === 'replay') return sendStored<T>(reply, outcome.status, outcome.body);
  deps.onAccepted?.();
  void reply.status(status);
  return body;
}

/** A provider that accepted mail normally reports on it within minutes. */
export const DEFAULT_UNCONFIRMED_MS = 30 * 60_000;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseListQuery(query: {
  status?: string;
  recipient?: string;
  category?: string;
  metadata?: string | string[];
  created_after?: string;
  created_before?: string;
  cursor?: string;
  limit?: string;
}): MessageFilter {
  const details: ErrorDetail[] = [];
  const time = (field: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms))
      details.push({ field: `querystring.${field}`, message: 'must be an ISO 8601 time' });
    return ms;
  };
  const filter: MessageFilter = { limit: 50 };
  if (query.limit !== undefined) {
    const limit = Number(query.limit);
    if (limit < 1 || limit > 500)
      details.push({ field: 'querystring.limit', message: 'must be 1 to 500' });
    filter.limit = limit;
  }
  if (query.status) filter.status = query.status as MessageFilter['status'];
  if (query.recipient) filter.recipient = query.recipient;
  if (query.category) filter.category = query.category;
  const metadata = query.metadata === undefined ? [] : ([] as string[]).concat(query.metadata);
  filter.metadata = [];
  for (const pair of metadata) {
    const eq = pair.indexOf('=');
    if (eq < 1) {
      details.push({ field: 'querystring.metadata', message: 'must be key=value' });
      continue;
    }
    filter.metadata.push([pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  const after = time('created_after', query.created_after);
  const before = time('created_before', query.created_before);
  if (after !== undefined) filter.createdAfter = after;
  if (before !== undefined) filter.createdBefore = before;
  if (query.cursor !== undefined) {
    const id = Buffer.from(query.cursor, 'base64url').toString('utf8');
    if (!/^msg_[0-9A-Z]{26}$/.test(id)) {
      details.push({ field: 'querystring.cursor', message: 'is not a cursor this API returned' });
    }
    filter.beforeId = id;
  }
  if (details.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  return filter;
}
