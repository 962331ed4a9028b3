/**
 * What the peers of `npm run bench load` share, so that they do the same work as Tegami per
 * message: the API's JSON schema for a single message (Fastify validates the body with it), and
 * the call that hands a message to SendGrid (here: the stand-in) over a keep-alive pool.
 */
import { Pool } from 'undici';

const address = {
  type: 'object',
  required: ['email'],
  properties: { email: { type: 'string', minLength: 3, maxLength: 320 }, name: { type: 'string' } },
} as const;

/** The subset of Tegami's `POST /v1/messages` body the load test sends. */
export const messageSchema = {
  type: 'object',
  required: ['from', 'to', 'subject'],
  properties: {
    from: address,
    to: { type: 'array', minItems: 1, maxItems: 1000, items: address },
    subject: { type: 'string', minLength: 1, maxLength: 998 },
    text: { type: 'string' },
    html: { type: 'string' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

export interface Message {
  from: { email: string; name?: string };
  to: { email: string; name?: string }[];
  subject: string;
  text?: string;
  html?: string;
  metadata?: Record<string, string>;
}

/** Tegami's defaults: 64 requests in flight to SendGrid per worker process. */
export const SEND_CONCURRENCY = 64;

export function sendGridClient(baseUrl: string) {
  const pool = new Pool(baseUrl, { connections: SEND_CONCURRENCY, keepAliveTimeout: 30_000 });
  return {
    /**
     * POST /v3/mail/send; throws unless SendGrid answered 2xx, so the job is retried. Returns the
     * X-Message-Id SendGrid answered with (null when none), which events name the message by.
     */
    async send(message: Message, id: string): Promise<string | null> {
      const content: { type: string; value: string }[] = [];
      if (message.text) content.push({ type: 'text/plain', value: message.text });
      if (message.html) content.push({ type: 'text/html', value: message.html });
      const response = await pool.request({
        path: '/v3/mail/send',
        method: 'POST',
        headers: { authorization: 'Bearer SG.bench', 'content-type': 'application/json' },
        body: JSON.stringify({
          personalizations: [
            { to: message.to, custom_args: { ...message.metadata, peer_job_id: id } },
          ],
          from: message.from,
          subject: message.subject,
          content,
        }),
      });
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode > 299) {
        throw new Error(`SendGrid answered ${response.statusCode}`);
      }
      const sentId = response.headers['x-message-id'];
      return typeof sentId === 'string' ? sentId : null;
    },
    close: () => pool.close(),
  };
}

/** Stops on SIGTERM/SIGINT after `close` (as Tegami does), so --cpu-prof can write its file. */
export function stopOn(close: () => Promise<unknown>): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      close().finally(() => process.exit(0));
    });
  }
}
