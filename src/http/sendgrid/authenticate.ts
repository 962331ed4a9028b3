import type { FastifyRequest } from 'fastify';
import { hashApiKey } from '../../domain/api-keys.ts';
import type { ApiKeyRecord } from '../../domain/ports/api-key-store.ts';
import type { ApiDeps } from '../deps.ts';
import { SENDGRID_MESSAGES, SendGridRefusal } from './answers.ts';

/**
 * SendGrid's official clients warn when a key does not start with `SG.`, so a Tegami key may be
 * given as `SG.<Tegami key>`: the prefix is dropped before the look-up. A key that itself starts
 * with `SG.` (a bootstrap key can be any text) is still found as it is.
 */
const SENDGRID_KEY_PREFIX = 'SG.';

/**
 * The `onRequest` hook of `/v3`: a request without an active key gets SendGrid's 401 before its
 * body is read, as SendGrid does (a wrong key is never a 400, 403 or 415).
 */
export function authenticateSendGridRequests(deps: Pick<ApiDeps, 'findApiKey'>) {
  return async (request: FastifyRequest) => {
    const match = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match?.[1]) throw SendGridRefusal.of(401, SENDGRID_MESSAGES.authorizationRequired);
    const key = await findKey(match[1], deps);
    if (!key) throw SendGridRefusal.of(401, SENDGRID_MESSAGES.unauthorized);
    request.apiKey = key;
  };
}

async function findKey(
  given: string,
  deps: Pick<ApiDeps, 'findApiKey'>,
): Promise<ApiKeyRecord | null> {
  if (given.startsWith(SENDGRID_KEY_PREFIX)) {
    const found = await deps.findApiKey(hashApiKey(given.slice(SENDGRID_KEY_PREFIX.length)));
    if (found) return found;
  }
  return deps.findApiKey(hashApiKey(given));
}
