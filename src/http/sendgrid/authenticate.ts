import type { FastifyRequest } from 'fastify';
import { findKeyAsGiven } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { SENDGRID_MESSAGES, SendGridRefusal } from './answers.ts';

/**
 * The `onRequest` hook of `/v3`: a request without an active key gets SendGrid's 401 before its
 * body is read, as SendGrid does (a wrong key is never a 400, 403 or 415).
 */
export function authenticateSendGridRequests(deps: Pick<ApiDeps, 'findApiKey'>) {
  return async (request: FastifyRequest) => {
    const match = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match?.[1]) throw SendGridRefusal.of(401, SENDGRID_MESSAGES.authorizationRequired);
    const key = await findKeyAsGiven(match[1], deps);
    if (!key) throw SendGridRefusal.of(401, SENDGRID_MESSAGES.unauthorized);
    request.apiKey = key;
  };
}
