import { Type } from '@sinclair/typebox';
import { DELIVERY_STATUS_FILTERS } from '../../domain/operations/message-query.ts';
import { UNSENT_REASONS } from '../../domain/operations/unsent.ts';
import { MESSAGE_STATUSES } from '../../domain/types.ts';

/**
 * Query-string fields of the message filters (domain/operations/message-query.ts), shared by
 * `GET /v1/messages` and `GET /v1/unsent`. The domain checks what JSON schema cannot (times,
 * `key=value`, an address or a domain).
 */
const time = (description: string) =>
  Type.Optional(
    Type.String({ maxLength: 40, description: `ISO 8601 (UTC if no zone), ${description}` }),
  );

export const MessageQueryFields = {
  unit: Type.Optional(Type.String({ maxLength: 63, description: "a unit's name" })),
  provider: Type.Optional(
    Type.String({ maxLength: 64, description: 'the provider of the last attempt' }),
  ),
  error_class: Type.Optional(
    Type.String({
      maxLength: 128,
      description: 'the error class of the last attempt, e.g. http_400',
    }),
  ),
  delivery_status: Type.Optional(
    Type.Union(
      DELIVERY_STATUS_FILTERS.map((s) => Type.Literal(s)),
      { description: "a recipient's delivery status; none: no delivery event yet" },
    ),
  ),
  subject: Type.Optional(
    Type.String({ maxLength: 998, description: 'words that must all appear in the subject' }),
  ),
  recipient_name: Type.Optional(
    Type.String({
      maxLength: 200,
      description:
        "text in a recipient's display name, any case (on SQLite, of ASCII letters only), e.g. tanaka",
    }),
  ),
  recipient_text: Type.Optional(
    Type.String({
      maxLength: 200,
      description:
        "text anywhere in a recipient's address or display name, any case (on SQLite, of ASCII letters only), e.g. tanaka",
    }),
  ),
  provider_message_id: Type.Optional(
    Type.String({
      maxLength: 255,
      description:
        "a provider's id for the message (an attempt's provider_message_id: SendGrid's X-Message-Id, or an event's sg_message_id, read up to its first dot too), or the X-Message-Id answered to POST /v3/mail/send",
    }),
  ),
  updated_after: time('inclusive'),
  updated_before: time('exclusive'),
  failed_after: time('when it was dead-lettered, inclusive'),
  failed_before: time('when it was dead-lettered, exclusive'),
};

export const StatusField = {
  status: Type.Optional(Type.Union(MESSAGE_STATUSES.map((s) => Type.Literal(s)))),
};

export const CountField = {
  count: Type.Optional(
    Type.Union([Type.Literal('true'), Type.Literal('false')], {
      description: 'true: the answer carries `total`, the exact number of messages matched',
    }),
  ),
};

export const ReasonField = {
  reason: Type.Optional(Type.Union(UNSENT_REASONS.map((r) => Type.Literal(r)))),
};

/** The filter of a recovery, as JSON: the list's filters plus `reason`, metadata as an object. */
export const RecoveryFilterSchema = Type.Object(
  {
    ...StatusField,
    ...MessageQueryFields,
    ...ReasonField,
    recipient: Type.Optional(
      Type.String({ maxLength: 320, description: 'an address, or @domain for a whole domain' }),
    ),
    category: Type.Optional(Type.String({ maxLength: 255 })),
    metadata: Type.Optional(
      // The key's limit is a pattern, and keys that do not match it are refused: a map's key
      // schema only contributes its pattern (parts.ts).
      Type.Record(Type.String({ pattern: '^[\\s\\S]{0,256}$' }), Type.String({ maxLength: 1000 }), {
        maxProperties: 10,
        additionalProperties: false,
      }),
    ),
    created_after: time('inclusive'),
    created_before: time('exclusive'),
  },
  { additionalProperties: false },
);
