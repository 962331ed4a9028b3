import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { NewMessage } from '../../../domain/ports/message-store.ts';
import {
  FORWARDED_ID_ARG_BYTES,
  messagesForRequest,
} from '../../../domain/sendgrid-compat/accept.ts';
import { nestingProblem } from '../../../domain/sendgrid-compat/nesting.ts';
import { isSandboxMode, newXMessageId } from '../../../domain/sendgrid-compat/request.ts';
import type { MailSendRequest } from '../../../domain/sendgrid-compat/request-types.ts';
import { withDefaultPriorities } from '../../accept-messages.ts';
import type { ApiDeps } from '../../deps.ts';
import { hasNulCharacter } from '../../map-errors.ts';
import { SENDGRID_MESSAGES, SendGridRefusal } from '../../sendgrid/answers.ts';
import type { MailSendValidator } from '../../sendgrid/validate-mail-send.ts';
import {
  giveBackUnitLimit,
  rateLimitHeaders,
  setRateLimitHeaders,
  takeUnitLimit,
} from '../../unit-rate-limit.ts';

/**
 * SendGrid's limit on one request: "The total size of your email, including attachments, must
 * be less than 30MB." Over it: 413 before the body is read.
 */
export const SENDGRID_BODY_LIMIT = 30 * 1024 * 1024;

/** SendGrid's error answer (http/sendgrid/answers.ts), as the OpenAPI document shows it. */
const SendGridErrorsSchema = Type.Object(
  {
    errors: Type.Array(
      Type.Object({
        message: Type.String(),
        field: Type.Union([Type.String(), Type.Null()]),
        help: Type.Union([Type.String(), Type.Null()]),
      }),
    ),
  },
  { description: "SendGrid's error shape" },
);

/**
 * `POST /v3/mail/send`: SendGrid's v3 mail/send, so an application on SendGrid's official clients
 * moves to Tegami by changing its base URL and key (docs/sendgrid-compatibility.md). The key was
 * checked before the body was read (authenticate.ts). Success is SendGrid's: 202, no body, and an
 * `X-Message-Id`, once the mail is durably stored.
 */
export function registerMailSend(
  app: FastifyInstance,
  deps: ApiDeps,
  validate: MailSendValidator,
): void {
  const clock = deps.clock ?? Date.now;
  const provider = deps.providers?.configured ?? 'sandbox';
  app.post(
    '/mail/send',
    {
      bodyLimit: SENDGRID_BODY_LIMIT,
      schema: {
        tags: ['sendgrid'],
        summary: 'Send mail with SendGrid v3 mail/send',
        description:
          'SendGrid\'s v3 `POST /v3/mail/send`, its body, status codes and error shape: 202 with an empty body and an `X-Message-Id` once stored; 400, 401 (checked first), 413 over 30 MB, 429 over the unit sending limit (with `X-RateLimit-*`) as `{"errors":[{message, field, help}]}`. The key may be sent as `SG.<Tegami key>`. See docs/sendgrid-compatibility.md.',
        response: {
          202: Type.Null({ description: 'Stored: an empty body and an `X-Message-Id` header' }),
          200: Type.Null({
            description:
              '`mail_settings.sandbox_mode.enable: true` and valid: nothing stored or sent',
          }),
          400: SendGridErrorsSchema,
          401: SendGridErrorsSchema,
          413: SendGridErrorsSchema,
          429: SendGridErrorsSchema,
          503: SendGridErrorsSchema,
        },
      },
    },
    async (request, reply) => {
      const now = clock();
      // SendGrid sends its rate-limit headers on every answer, a 400's and a sandbox-mode 200's
      // too: the unit's window as it stands (counting nothing), replaced below once counted.
      const standing = await takeUnitLimit(request, deps, 0);
      if (standing) setRateLimitHeaders(reply, standing.decision);
      const body = request.body;
      if (body === undefined) throw SendGridRefusal.of(400, SENDGRID_MESSAGES.badRequest);
      const tooDeep = nestingProblem(body);
      if (tooDeep) throw new SendGridRefusal(400, [tooDeep]);
      const reserved = provider === 'sendgrid' ? FORWARDED_ID_ARG_BYTES : 0;
      const errors = validate(body, now, reserved);
      if (errors.length > 0) throw new SendGridRefusal(400, errors);
      const mail = body as MailSendRequest;
      const xMessageId = newXMessageId();
      const result = messagesForRequest(mail, {
        provider,
        xMessageId,
        apiKeyId: request.apiKey?.id ?? null,
        ...(request.apiKey ? { unitId: request.apiKey.unitId } : {}),
        now,
      });
      if ('errors' in result) throw new SendGridRefusal(400, result.errors);
      // SendGrid validates a sandbox-mode request and sends nothing: 200, and no message id. It
      // is checked as a real send would be (a template the provider cannot render, Tegami's own
      // limits), so that a test that passes in sandbox mode passes for real.
      if (isSandboxMode(mail)) return reply.code(200).send();
      // Each personalization counts as a message (3 personalizations: 3), the request whole or
      // not at all; also for the `sendgrid` provider, which stores the request as one message
      // and SendGrid sends one mail per personalization.
      const count = mail.personalizations.length;
      const taken = await takeUnitLimit(request, deps, count);
      const limitHeaders = taken ? rateLimitHeaders(taken.decision) : {};
      if (taken && !taken.decision.allowed) {
        throw SendGridRefusal.of(429, SENDGRID_MESSAGES.tooManyRequests, limitHeaders);
      }
      let handedOver: number;
      try {
        const messages = await withDefaultPriorities(request, deps, result.messages);
        handedOver = await store(deps, messages, request.log);
      } catch (error) {
        giveBackUnitLimit(deps, taken, count);
        throw error;
      }
      // Wake the workers for what queued (the rest went to this thread's worker at once).
      if (handedOver < result.messages.length) deps.onAccepted?.();
      // Counted as accepted like /v1 mail (metrics): one request may be several messages.
      if (deps.telemetry) {
        const unit = request.apiKey?.unitId ?? 'default';
        deps.telemetry.messagesAccepted(unit, result.messages.length);
      }
      // SendGrid sends its rate-limit headers on every answer; here when the unit has a limit.
      if (taken) setRateLimitHeaders(reply, taken.decision);
      return reply
        .code(202)
        .header('x-message-id', xMessageId)
        .header('content-type', 'text/plain; charset=utf-8')
        .send();
    },
  );
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/mail/send',
    schema: { hide: true },
    handler: async () => {
      throw SendGridRefusal.of(405, SENDGRID_MESSAGES.methodNotAllowed);
    },
  });
}

/**
 * Durable when it returns; a failed write is SendGrid's 503, and nothing was accepted. Returns
 * how many messages were handed to the worker at once (domain/hand-over.ts).
 */
async function store(
  deps: ApiDeps,
  messages: NewMessage[],
  log: { error: (o: object, m: string) => void },
): Promise<number> {
  let handedOver = 0;
  try {
    const outcome = await deps.messages.submit({ messages });
    if (outcome.kind === 'stored') handedOver = outcome.leased?.length ?? 0;
  } catch (error) {
    if (hasNulCharacter(error)) {
      throw new SendGridRefusal(400, [
        { message: 'text must not contain NUL (\\u0000) characters', field: null, help: null },
      ]);
    }
    if (deps.outage) deps.outage.failed('storing messages', error);
    else log.error({ err: error }, 'storing messages failed');
    throw SendGridRefusal.of(503, SENDGRID_MESSAGES.unavailable);
  }
  deps.outage?.succeeded('storing messages');
  return handedOver;
}
