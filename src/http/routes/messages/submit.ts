import { Type } from '@sinclair/typebox';
import { type MessageInput, validateMessage } from '../../../domain/validate-message.ts';
import { acceptMessages, newMessageFrom } from '../../accept-messages.ts';
import type { ApiDeps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { type Locate, oneRequestPerKey, replayIfKnown } from '../../idempotency.ts';
import { withLocation } from '../../location.ts';
import { ErrorSchema, MessageErrorResponses } from '../../schemas/error.ts';
import { MessageInputSchema, SubmissionHeadersSchema } from '../../schemas/message-input.ts';
import type { TypedApp } from '../../typed-app.ts';

const AcceptedSchema = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('scheduled')]),
});

/** Where the message an answer accepted is read back: `GET /v1/messages/{id}`. */
const messageLocation: Locate = (body) => {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? `/v1/messages/${id}` : null;
};

/** `POST /v1/messages`: one message. */
export function registerSubmitMessage(app: TypedApp, deps: ApiDeps): void {
  const clock = deps.clock ?? Date.now;
  app.post(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Submit one message',
        description:
          'Answers 202 only once the message is durably stored, with `Location: /v1/messages/{id}`. Send `Idempotency-Key` to make retries safe (a replayed answer has the same `Location`). Over the sending limit of the unit (messages per minute): 429 `rate_limited` with `Retry-After`, nothing stored.',
        headers: SubmissionHeadersSchema,
        body: MessageInputSchema,
        response: {
          202: withLocation(AcceptedSchema, '/v1/messages/{id}'),
          ...MessageErrorResponses,
          429: ErrorSchema,
        },
      },
    },
    async (request, reply) =>
      oneRequestPerKey(request, deps.messages, async () => {
        if (await replayIfKnown(request, reply, deps.messages, messageLocation)) return reply;
        const now = clock();
        const result = validateMessage(request.body as MessageInput, now);
        if (Array.isArray(result)) {
          throw new ApiError('invalid_request', 'the message is invalid; see details', result);
        }
        const message = newMessageFrom(request, result, now);
        const body = {
          id: message.id,
          status: result.sendAt === null ? 'queued' : 'scheduled',
        } as const;
        return acceptMessages(request, reply, deps, [message], 202, body, messageLocation);
      }),
  );
}
