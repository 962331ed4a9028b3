import { type Static, Type } from '@sinclair/typebox';
import { DEFAULT_BATCH_MAX_RECIPIENTS } from '../../../domain/defaults.ts';
import type { NewMessage } from '../../../domain/ports/message-store.ts';
import { type MessageInput, validateMessage } from '../../../domain/validate-message.ts';
import { acceptMessages, newMessageFrom } from '../../accept-messages.ts';
import { type ApiDeps, BATCH_BODY_LIMIT } from '../../deps.ts';
import { ApiError, type ErrorDetail, MAX_ERROR_DETAILS } from '../../errors.ts';
import { oneRequestPerKey, replayIfKnown } from '../../idempotency.ts';
import { ErrorBodySchema, ErrorSchema, MessageErrorResponses } from '../../schemas/error.ts';
import { MessageInputSchema, SubmissionHeadersSchema } from '../../schemas/message-input.ts';
import { strict } from '../../schemas/parts.ts';
import type { TypedApp } from '../../typed-app.ts';
import { compileSchemaCheck, schemaErrorDetails } from '../../validation-errors.ts';

const BatchInputSchema = Type.Object(
  {
    messages: Type.Array(
      Type.Unknown({ description: 'A MessageInput; each is validated on its own.' }),
      {
        minItems: 1,
        maxItems: 1000,
      },
    ),
  },
  strict,
);

const BatchResultSchema = Type.Object({
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(
    Type.Object({
      index: Type.Integer(),
      id: Type.Optional(Type.String()),
      status: Type.Optional(Type.String()),
      error: Type.Optional(ErrorBodySchema),
    }),
  ),
});

// Batch items are checked one by one, the same way Fastify checks request bodies.
const checkItemShape = compileSchemaCheck(MessageInputSchema);

const BATCH_SHAPE = 'the body is {"messages": [ … ]}';

/**
 * The two easy mistakes, said as such rather than as schema problems: the messages as a bare
 * array (Ajv: "(body) must be object"), and one message alone (Ajv: "messages is required", then
 * each of its fields "is not a known field").
 */
function refuseMisshapenBatch(body: unknown): void {
  if (Array.isArray(body)) {
    throw new ApiError('invalid_request', 'the request is invalid; see details', [
      { field: '(body)', message: `must be an object, not an array: ${BATCH_SHAPE}` },
    ]);
  }
  if (body !== null && typeof body === 'object' && !Object.hasOwn(body, 'messages')) {
    const looksLikeAMessage = ['from', 'to', 'subject'].some((field) => Object.hasOwn(body, field));
    if (!looksLikeAMessage) return;
    throw new ApiError('invalid_request', 'the request is invalid; see details', [
      {
        field: 'messages',
        message: `is required: ${BATCH_SHAPE} (one message alone goes to POST /v1/messages)`,
      },
    ]);
  }
}

/** `POST /v1/messages/batch`: up to 1,000 messages, each valid one stored, all together. */
export function registerSubmitMessageBatch(app: TypedApp, deps: ApiDeps): void {
  const clock = deps.clock ?? Date.now;
  app.post(
    '/messages/batch',
    {
      bodyLimit: BATCH_BODY_LIMIT,
      schema: {
        tags: ['messages'],
        summary: 'Submit up to 1,000 messages',
        description:
          'Each message is validated on its own: valid ones are stored together (atomically), invalid ones are reported per index. 400 if none is valid. 429 `rate_limited` if the valid ones would go over the sending limit of the unit: none is stored. The answer has no `Location` (it made several messages): each accepted one is read back at `/v1/messages/{id}` with its `results[].id`.',
        headers: SubmissionHeadersSchema,
        body: BatchInputSchema,
        response: { 202: BatchResultSchema, ...MessageErrorResponses, 429: ErrorSchema },
      },
      preValidation: async (request) => refuseMisshapenBatch(request.body),
    },
    async (request, reply) =>
      oneRequestPerKey(request, deps.messages, async () => {
        if (await replayIfKnown(request, reply, deps.messages)) return reply;
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
              const message = newMessageFrom(request, result, now);
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
        return acceptMessages(request, reply, deps, messages, 202, body);
      }),
  );
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
