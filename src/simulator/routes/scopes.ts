import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from '../context.ts';

/** `GET /v3/scopes` for a missing or unknown key: SendGrid's words, field first, no `help`. */
const SCOPES_UNAUTHORIZED = JSON.stringify({
  errors: [{ field: null, message: 'authorization required' }],
});

/** The scopes SendGrid lists for a key restricted to Mail Send. */
export const SIMULATED_SCOPES = [
  '2fa_exempt',
  '2fa_required',
  'mail.send',
  'sender_verification_eligible',
];

// The permissions of the key that asks: what a client checks before sending. Faults and stats
// concern mail/send only.
export function registerScopes(app: FastifyInstance, ctx: SimulatorContext): void {
  app.get('/v3/scopes', async (request, reply) => {
    const auth = /^Bearer +(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const known = auth?.[1] !== undefined && (ctx.apiKey === null || auth[1] === ctx.apiKey);
    reply.header('content-type', 'application/json');
    if (!known) return reply.code(401).send(SCOPES_UNAUTHORIZED);
    return reply.code(200).send(JSON.stringify({ scopes: SIMULATED_SCOPES }));
  });
}
