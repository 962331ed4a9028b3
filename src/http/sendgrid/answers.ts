import type { FastifyReply } from 'fastify';
import { isDatabaseUnavailable } from '../../domain/ports/database-unavailable.ts';
import type { SendGridError } from '../../domain/sendgrid-compat/errors.ts';
import { isClientGone } from '../client-gone.ts';

/**
 * Answers of `POST /v3/mail/send` in SendGrid's shape, `{"errors":[{message, field, help}]}`, with
 * SendGrid's words for the refusals that are not about a field.
 */
export const SENDGRID_MESSAGES = {
  badRequest: 'Bad Request',
  unauthorized: 'The provided authorization grant is invalid, expired, or revoked',
  authorizationRequired: 'authorization required',
  tooLarge: 'content too large',
  notFound: 'not found',
  methodNotAllowed: 'method not allowed',
  unavailable: 'service unavailable',
  tooManyRequests: 'too many requests',
  internal: 'internal server error',
};

/** An answer `POST /v3/mail/send` gives instead of a 202; its error handler sends it. */
export class SendGridRefusal extends Error {
  constructor(
    readonly status: number,
    readonly errors: SendGridError[],
    /** Sent with the answer (a 429's `X-RateLimit-*`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(errors[0]?.message ?? 'refused');
  }

  static of(
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ): SendGridRefusal {
    return new SendGridRefusal(status, [{ message, field: null, help: null }], headers);
  }
}

export function sendRefusal(reply: FastifyReply, refusal: SendGridRefusal): FastifyReply {
  for (const [name, value] of Object.entries(refusal.headers)) void reply.header(name, value);
  return reply
    .code(refusal.status)
    .header('content-type', 'application/json')
    .send(JSON.stringify({ errors: refusal.errors }));
}

/** Any error on the way to an answer, as SendGrid would put it. */
export function toSendGridRefusal(error: unknown): SendGridRefusal {
  if (error instanceof SendGridRefusal) return error;
  // The database away (the API key's look-up fails first once its cache is cold): SendGrid's
  // own answer to an outage, not its "internal server error".
  if (isClientGone(error)) return SendGridRefusal.of(400, SENDGRID_MESSAGES.badRequest);
  if (isDatabaseUnavailable(error)) return SendGridRefusal.of(503, SENDGRID_MESSAGES.unavailable);
  const status = (error as { statusCode?: number }).statusCode ?? 500;
  if (status === 413) return SendGridRefusal.of(413, SENDGRID_MESSAGES.tooLarge);
  if (status === 401) return SendGridRefusal.of(401, SENDGRID_MESSAGES.unauthorized);
  if (status >= 400 && status < 500) return SendGridRefusal.of(400, SENDGRID_MESSAGES.badRequest);
  if (status === 503) return SendGridRefusal.of(503, SENDGRID_MESSAGES.unavailable);
  return SendGridRefusal.of(500, SENDGRID_MESSAGES.internal);
}
