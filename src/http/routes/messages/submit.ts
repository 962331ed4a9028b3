import { Type } from '@sinclair/typebox';
import { type MessageInput, validateMessage } from '../../../domain/validate-message.ts';
import { acceptMessages, newMessageFrom } from '../../accept-messages.ts';
import type { ApiDeps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { oneRequestPerKey, replayIfKnown } from '../../idempotency.ts';
import { ErrorSchema, MessageErrorResponses } from '../../schemas/error.ts';
import { MessageInputSchema, SubmissionHeadersSchema } from '../../schemas/message-input.ts';
import type { TypedApp } from '../../typed-app.ts';

const AcceptedSchema = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('scheduled')]),
});

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
          'Answers 202 only once the message is durably stored. Send `Idempotency-Key` to make retries safe. Over the sending limit of the unit (messages per minute): 429 `rate_limited` with `Retry-After`, nothing stored.',
        headers: SubmissionHeadersSchema,
        body: MessageInputSchema,
        response: { 202: AcceptedSchema, ...MessageErrorResponses, 429: ErrorSchema },
      },
    },
    async (request, reply) =>
      oneRequestPerKey(request, deps.messages, async () => {
        if (await replayIfKnown(request, reply, deps.messages)) return reply;
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
        return acceptMessages(request, reply, deps, [message], 202, body);
      }),
  );
}
