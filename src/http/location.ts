import type { TSchema } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';

/**
 * `Location` on an answer that made something a client can read back (a message, a unit, a
 * webhook endpoint, a recovery, a SendGrid event relay): the path to GET it, relative to the
 * server (`/v1/messages/msg_…`), as RFC 9110 allows. Kept on an idempotent replay of the answer.
 */
export function setLocation(reply: FastifyReply, path: string): void {
  void reply.header('location', path);
}

/** The answer's schema with `Location` declared, so the OpenAPI document lists the header. */
export function withLocation<T extends TSchema>(schema: T, path: string): T {
  return {
    ...schema,
    headers: {
      Location: {
        type: 'string',
        description: `Where what was made is read back: ${path}`,
      },
    },
  };
}
