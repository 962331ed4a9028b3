import { Type } from '@sinclair/typebox';
import { renderSandboxMime, type SandboxOutbox } from '../../providers/sandbox-provider.ts';
import { scopeUnitId } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';

const QuerySchema = Type.Object(
  {
    message_id: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 50' }),
    ),
  },
  { additionalProperties: false },
);

/** What the sandbox provider would have sent, newest first, with the full MIME source. */
export function registerSandboxRoutes(app: TypedApp, outbox: SandboxOutbox): void {
  app.get(
    '/sandbox/messages',
    {
      schema: {
        querystring: QuerySchema,
        tags: ['sandbox'],
        summary: 'Mail the sandbox provider kept',
      },
    },
    async (request) => {
      const limit = Math.min(Math.max(Number(request.query.limit ?? 50), 1), 1000);
      const unitId = scopeUnitId(request);
      const entries = await outbox.list({
        limit,
        // A unit key sees its own unit's mail only.
        ...(unitId !== undefined ? { unitId } : {}),
        ...(request.query.message_id ? { messageId: request.query.message_id } : {}),
      });
      return {
        data: await Promise.all(
          entries.map(async (e) => ({
            id: e.id,
            message_id: e.messageId,
            attempt: e.attempt,
            envelope_from: e.envelopeFrom,
            envelope_to: e.envelopeTo,
            subject: e.subject,
            created_at: new Date(e.createdAt).toISOString(),
            mime: await renderSandboxMime(e),
          })),
        ),
      };
    },
  );
}
