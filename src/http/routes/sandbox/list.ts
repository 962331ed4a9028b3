import { Type } from '@sinclair/typebox';
import { isIdOf } from '../../../domain/ids.ts';
import type { SandboxView } from '../../../domain/ports/sandbox-outbox.ts';
import { ApiError, type ErrorDetail } from '../../errors.ts';
import { cursorId, idCursor, limitParameter, type PageSize, parseLimit } from '../../paging.ts';
import { integer, isoTime, stringArray, text } from '../../present/values.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/** Up to 1,000 kept messages a page (and at most SANDBOX_PAGE_BYTES), 50 unasked. */
const PAGE: PageSize = { default: 50, max: 1000 };

const QuerySchema = Type.Object(
  {
    message_id: Type.Optional(Type.String({ maxLength: 64 })),
    limit: limitParameter(PAGE),
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'next_cursor of the previous page' }),
    ),
  },
  { additionalProperties: false },
);

const SandboxPageSchema = Type.Object({
  data: Type.Array(
    Type.Object({
      id: Type.String(),
      message_id: Type.String(),
      attempt: Type.Integer({ description: 'which attempt of the message this is' }),
      envelope_from: Type.String(),
      envelope_to: Type.Array(Type.String()),
      subject: Type.String(),
      created_at: Type.String(),
      mime: Type.Union([Type.String(), Type.Null()], {
        description: 'the MIME source as the provider would get it; null if it cannot be rendered',
      }),
    }),
  ),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

/**
 * Stored messages per page, in bytes: a page ends early once its entries add up to this, so one
 * request holds a bounded amount of MIME in memory (the rendered MIME is about as large as the
 * stored message; the whole page is built as one JSON answer). A page of 1,000 messages with
 * 700 KB attachments used to take 3.4 GB of memory and then fail; `next_cursor` now leads on.
 */
export const SANDBOX_PAGE_BYTES = 16 * 1024 * 1024;

/**
 * `GET /v1/sandbox/messages`: what the sandbox provider would have sent, newest first, with the
 * full MIME source.
 */
export function registerListSandboxMessages(app: TypedApp, sandbox: SandboxView): void {
  const { outbox } = sandbox;
  app.get(
    '/sandbox/messages',
    {
      schema: {
        querystring: QuerySchema,
        tags: ['sandbox'],
        summary: 'Mail the sandbox provider kept',
        description: `Newest first, with each message's MIME source. A page holds up to \`limit\` messages and ends early at about ${SANDBOX_PAGE_BYTES / 1024 / 1024} MiB of stored mail; pass \`next_cursor\` back as \`cursor\` for the next page.`,
        response: { 200: SandboxPageSchema },
      },
    },
    async (request) => {
      const details: ErrorDetail[] = [];
      const limit = parseLimit(request.query.limit, PAGE, details);
      const unitId = scopeUnitId(request);
      let beforeId: string | undefined;
      if (request.query.cursor !== undefined) {
        beforeId = cursorId(request.query.cursor);
        if (!isIdOf('sbx', beforeId)) {
          details.push({
            field: 'querystring.cursor',
            message: 'is not a cursor this API returned',
          });
        }
      }
      if (details.length > 0) {
        throw new ApiError('invalid_request', 'the query is invalid; see details', details);
      }
      const { entries, more } = await outbox.list({
        limit,
        maxBytes: SANDBOX_PAGE_BYTES,
        // A unit key sees its own unit's mail only.
        ...(unitId !== undefined ? { unitId } : {}),
        ...(request.query.message_id ? { messageId: request.query.message_id } : {}),
        ...(beforeId ? { beforeId } : {}),
      });
      // One at a time: rendering them all at once would hold every message's parts together.
      const data = [];
      for (const e of entries) {
        data.push({
          id: text(e.id),
          message_id: text(e.messageId),
          attempt: integer(e.attempt),
          envelope_from: text(e.envelopeFrom),
          envelope_to: stringArray(e.envelopeTo),
          subject: text(e.subject),
          created_at: isoTime(e.createdAt),
          // A stored message that cannot be rendered (edited by hand) shows without its MIME.
          mime: await sandbox.renderMime(e).catch(() => null),
        });
      }
      const last = entries[entries.length - 1];
      return {
        data,
        next_cursor: more && last ? idCursor(last.id) : null,
      };
    },
  );
}
