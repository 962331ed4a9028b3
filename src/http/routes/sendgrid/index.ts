import type { FastifyInstance } from 'fastify';
import { isDatabaseUnavailable } from '../../../domain/ports/database-unavailable.ts';
import { sendGridField } from '../../../domain/sendgrid-compat/errors.ts';
import type { ApiDeps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { parseJsonBytes } from '../../json-body.ts';
import {
  SENDGRID_MESSAGES,
  SendGridRefusal,
  sendRefusal,
  toSendGridRefusal,
} from '../../sendgrid/answers.ts';
import { authenticateSendGridRequests } from '../../sendgrid/authenticate.ts';
import { createMailSendValidator } from '../../sendgrid/validate-mail-send.ts';
import { registerMailSend, SENDGRID_BODY_LIMIT } from './mail-send.ts';

/**
 * `/v3`: the SendGrid-compatible API. It answers as SendGrid does, not as `/v1` does: its own key
 * check (SendGrid's 401 before the body), body parsing (any content type is read as JSON, as
 * SendGrid reads it) and error shape.
 */
export async function registerSendGridRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const validate = createMailSendValidator();
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', authenticateSendGridRequests(deps));
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(
        '*',
        { parseAs: 'buffer', bodyLimit: SENDGRID_BODY_LIMIT },
        (_request, body, done) => {
          try {
            done(null, parseJsonBytes(body as Buffer));
          } catch (error) {
            done(bodyRefusal(error), undefined);
          }
        },
      );
      scope.setErrorHandler((error, request, reply) => {
        const refusal = toSendGridRefusal(error);
        // As in app.ts: keep the connection open and drain an unread body, so the client reads this.
        if (!request.raw.complete) reply.removeHeader('connection');
        // While the database is away every request fails: one line for the outage, as in /v1.
        if (refusal.status === 503 && isDatabaseUnavailable(error) && deps.outage) {
          deps.outage.failed('answering requests', error);
        } else if (refusal.status >= 500 && !(refusal.status === 503 && deps.outage)) {
          request.log.error({ err: error }, 'request failed');
        }
        return sendRefusal(reply, refusal);
      });
      // Other SendGrid endpoints are not served: SendGrid's 404, after the key check.
      scope.setNotFoundHandler((_request, reply) => {
        void sendRefusal(reply, SendGridRefusal.of(404, SENDGRID_MESSAGES.notFound));
      });
      registerMailSend(scope, deps, validate);
    },
    { prefix: '/v3' },
  );
}

/**
 * A body that is not JSON gets SendGrid's bare `Bad Request`. JSON Tegami cannot take as it is (a
 * `__proto__` key, a lone UTF-16 surrogate, a number beyond a double), which SendGrid would take,
 * gets the same 400 naming the field and why, in SendGrid's dotted form
 * (`personalizations.0.substitutions.__proto__`): a bare `Bad Request` for a body that parses
 * left the application nothing to look for.
 */
function bodyRefusal(error: unknown): SendGridRefusal {
  if (!(error instanceof ApiError) || error.code !== 'invalid_request') {
    return SendGridRefusal.of(400, SENDGRID_MESSAGES.badRequest);
  }
  if (error.details.length === 0) return SendGridRefusal.of(400, error.message);
  return new SendGridRefusal(
    400,
    error.details.map((detail) => {
      const field = sendGridField(detail.field);
      return { message: `${field}: ${detail.message}`, field, help: null };
    }),
  );
}
