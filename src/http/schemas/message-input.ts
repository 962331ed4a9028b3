import { type Static, Type } from '@sinclair/typebox';
import { ATTACHMENT_DISPOSITIONS, type AttachmentDisposition } from '../../domain/types.ts';
import {
  MAX_CATEGORIES,
  MAX_CONTENT_ID_LENGTH,
  MAX_CONTENT_TYPE_LENGTH,
  MAX_HEADER_VALUE_LENGTH,
  MAX_RECIPIENTS,
} from '../../domain/validate-message.ts';
import { AddressSchema } from './address.ts';
import { AnyKey, strict } from './parts.ts';
import { prioritySchema } from './priority.ts';

/** domain/types.ts ATTACHMENT_DISPOSITIONS: an enum, so a wrong value gets one error naming both. */
export const dispositionSchema = (description: string) =>
  Type.Unsafe<AttachmentDisposition>({
    type: 'string',
    enum: [...ATTACHMENT_DISPOSITIONS],
    description,
  });

export const AttachmentSchema = Type.Object(
  {
    filename: Type.String({ maxLength: 255 }),
    content: Type.String({ description: 'The file, base64-encoded.' }),
    content_type: Type.String({
      maxLength: MAX_CONTENT_TYPE_LENGTH,
      description: 'MIME type, e.g. application/pdf',
    }),
    content_id: Type.Optional(
      Type.String({
        maxLength: MAX_CONTENT_ID_LENGTH,
        description:
          'The id the HTML names in cid: links (<img src="cid:logo">), written as Content-ID: <content_id>; printable ASCII without spaces or angle brackets',
      }),
    ),
    disposition: Type.Optional(
      dispositionSchema(
        'attachment (the default): a file to open; inline: shown in the HTML where it names the content_id, which inline requires',
      ),
    ),
  },
  strict,
);

const StringMap = (description: string, maxProperties: number) =>
  Type.Record(AnyKey, Type.String(), { description, maxProperties });

/** A message to send, as submitted (one, or each of a batch). */
export const MessageInputSchema = Type.Object(
  {
    from: AddressSchema,
    to: Type.Array(AddressSchema, { maxItems: MAX_RECIPIENTS }),
    cc: Type.Optional(Type.Array(AddressSchema, { maxItems: MAX_RECIPIENTS })),
    bcc: Type.Optional(Type.Array(AddressSchema, { maxItems: MAX_RECIPIENTS })),
    reply_to: Type.Optional(AddressSchema),
    subject: Type.String({ maxLength: MAX_HEADER_VALUE_LENGTH }),
    text: Type.Optional(Type.String()),
    html: Type.Optional(Type.String()),
    headers: Type.Optional(
      StringMap(
        'Extra headers; reserved ones (From, To, Subject, …) are refused. In-Reply-To, References and OTP-Token take printable ASCII only; other values may hold any text (non-ASCII is written as RFC 2047 encoded words).',
        100,
      ),
    ),
    categories: Type.Optional(Type.Array(Type.String(), { maxItems: MAX_CATEGORIES })),
    metadata: Type.Optional(
      StringMap('String map returned on every read and sent to providers for correlation.', 100),
    ),
    attachments: Type.Optional(Type.Array(AttachmentSchema, { maxItems: 100 })),
    send_at: Type.Optional(
      Type.String({ description: 'ISO 8601 time with zone; the message is held until then.' }),
    ),
    priority: Type.Optional(
      prioritySchema(
        "high, normal or bulk; absent: the API key's default, else the unit's, else normal",
      ),
    ),
  },
  strict,
);
export type MessageInputBody = Static<typeof MessageInputSchema>;

/**
 * The headers of a submission, as the OpenAPI document lists them. Only described here: the
 * key itself is checked by http/idempotency.ts, whose 400 names `header.idempotency-key`.
 */
export const SubmissionHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        '1 to 255 printable ASCII characters, remembered 24 hours per API key: a retry with the same key and body gets the stored answer (header `idempotent-replayed: true`), not a second message; with another body, 409 `idempotency_key_reused`.',
    }),
  ),
});
