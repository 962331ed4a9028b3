import { type Static, Type } from '@sinclair/typebox';
import {
  MAX_CATEGORIES,
  MAX_HEADER_VALUE_LENGTH,
  MAX_RECIPIENTS,
} from '../domain/validate-message.ts';
import { CountField, MessageQueryFields } from './message-query-schema.ts';

/**
 * JSON schemas of the public API. Fastify validates requests with them and @fastify/swagger turns
 * them into the OpenAPI document at /openapi.json, so the document cannot drift from the code.
 * Unknown fields are rejected everywhere (`additionalProperties: false`).
 */

const strict = { additionalProperties: false } as const;

export const AddressSchema = Type.Object(
  {
    email: Type.String({ maxLength: 320, description: 'An email address, e.g. guest@example.com' }),
    name: Type.Optional(Type.String({ maxLength: 256 })),
  },
  strict,
);

export const AttachmentSchema = Type.Object(
  {
    filename: Type.String({ maxLength: 255 }),
    content: Type.String({ description: 'The file, base64-encoded.' }),
    content_type: Type.String({ maxLength: 255, description: 'MIME type, e.g. application/pdf' }),
  },
  strict,
);

/**
 * Keys of a map may be any string. `Type.Record(Type.String(), …)` would make the key pattern
 * `^(.*)$`, which no key with \n, \r, U+2028 or U+2029 matches (`.` stops at line terminators):
 * requests skipped such keys' values (a number got through to a 500) and the response serializer
 * silently dropped such keys from every answer. Key rules live in src/domain/validate-message.ts.
 */
const AnyKey = Type.String({ pattern: '^[\\s\\S]*$' });

const StringMap = (description: string, maxProperties: number) =>
  Type.Record(AnyKey, Type.String(), { description, maxProperties });

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
      StringMap('Extra headers; reserved ones (From, To, Subject, …) are refused.', 100),
    ),
    categories: Type.Optional(Type.Array(Type.String(), { maxItems: MAX_CATEGORIES })),
    metadata: Type.Optional(
      StringMap('String map returned on every read and sent to providers for correlation.', 100),
    ),
    attachments: Type.Optional(Type.Array(AttachmentSchema, { maxItems: 100 })),
    send_at: Type.Optional(
      Type.String({ description: 'ISO 8601 time with zone; the message is held until then.' }),
    ),
  },
  strict,
);
export type MessageInputBody = Static<typeof MessageInputSchema>;

export const BatchInputSchema = Type.Object(
  {
    messages: Type.Array(
      Type.Unknown({ description: 'A MessageInput; each is validated on its own.' }),
      {
        minItems: 1,
        maxItems: 1000,
      },
    ),
  },
  strict,
);

export const AcceptedSchema = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('scheduled')]),
});

const ErrorBodySchema = Type.Object({
  code: Type.String({ description: 'One of the codes in docs/api-errors.md' }),
  message: Type.String(),
  details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  details_omitted: Type.Optional(
    Type.Integer({ description: 'Problems found but not listed: `details` lists at most 100.' }),
  ),
});

export const ErrorSchema = Type.Object({ error: ErrorBodySchema });

export const BatchResultSchema = Type.Object({
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(
    Type.Object({
      index: Type.Integer(),
      id: Type.Optional(Type.String()),
      status: Type.Optional(Type.String()),
      error: Type.Optional(ErrorBodySchema),
    }),
  ),
});

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const AttemptSchema = Type.Object({
  number: Type.Integer(),
  provider: Type.String(),
  started_at: Type.String(),
  duration_ms: Type.Integer(),
  outcome: Type.String({
    description:
      'accepted, retryable, permanent, or unknown (timed out after the request was sent: the provider may have accepted it)',
  }),
  http_status: Type.Union([Type.Integer(), Type.Null()]),
  provider_message_id: Nullable(Type.String()),
  error_class: Nullable(Type.String()),
  detail: Nullable(Type.String()),
  response_excerpt: Nullable(Type.String()),
  provider_fault: Type.Union([Type.String(), Type.Null()], {
    description:
      "outage, rate_limited or account when the failure was the provider's state (the attempt did not count against the message's retry budget); null otherwise",
  }),
  provider_errors: Type.Union([
    Type.Array(
      Type.Object({
        message: Type.String(),
        field: Type.Union([Type.String(), Type.Null()]),
        help: Type.Union([Type.String(), Type.Null()]),
      }),
    ),
    Type.Null(),
  ]),
  rate_limit: Type.Union([
    Type.Object({
      limit: Type.Optional(Type.Number()),
      remaining: Type.Optional(Type.Number()),
      reset: Type.Optional(Type.Number()),
    }),
    Type.Null(),
  ]),
  network_error: Nullable(Type.String()),
});

export const MessageSchema = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'queued, scheduled, sending, sent, failed or cancelled' }),
  unit: Type.String({ description: 'the business unit it belongs to' }),
  from: AddressSchema,
  reply_to: Type.Optional(AddressSchema),
  subject: Type.String(),
  text: Type.Optional(Type.String()),
  html: Type.Optional(Type.String()),
  headers: Type.Record(AnyKey, Type.String()),
  categories: Type.Array(Type.String()),
  metadata: Type.Record(AnyKey, Type.String()),
  attachments: Type.Array(
    Type.Object({ filename: Type.String(), content_type: Type.String(), size: Type.Integer() }),
  ),
  recipients: Type.Array(
    Type.Object({
      email: Type.String(),
      name: Type.Optional(Type.String()),
      type: Type.String({ description: 'to, cc or bcc' }),
      status: Type.String({ description: 'pending, sent, failed, cancelled or suppressed' }),
      suppressed_reason: Type.Optional(
        Type.Union([Type.String(), Type.Null()], {
          description:
            'Why the recipient was not sent to (status suppressed): bounce, blocked, spamreport, unsubscribe or manual; null otherwise',
        }),
      ),
      delivery_status: Type.Optional(
        Type.Union([Type.String(), Type.Null()], {
          description:
            "What the provider's delivery events say: accepted, deferred, delivered, blocked, bounced or dropped; null before the first event",
        }),
      ),
      delivery_status_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      events: Type.Optional(
        Type.Array(
          Type.Object({
            event: Type.String(),
            occurred_at: Type.String(),
            received_at: Type.String(),
            detail: Type.Union([Type.String(), Type.Null()], {
              description: "the provider's reason, response or URL, when the event has one",
            }),
            payload: Type.Record(AnyKey, Type.Unknown(), {
              description: 'the event exactly as the provider sent it',
            }),
          }),
        ),
      ),
    }),
  ),
  send_at: Nullable(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
  attempt_count: Type.Integer(),
  next_attempt_at: Nullable(Type.String()),
  sent_at: Nullable(Type.String()),
  last_error: Nullable(Type.String()),
  held_reason: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description:
        'For a due queued or scheduled message: why the provider holds it (paused, unavailable, throttled, or no worker running); null otherwise',
    }),
  ),
  attempts: Type.Optional(Type.Array(AttemptSchema)),
});

export const MessageListSchema = Type.Object({
  data: Type.Array(MessageSchema),
  next_cursor: Nullable(Type.String()),
  total: Type.Optional(Type.Integer({ description: 'with count=true: every message matched' })),
});

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(
      Type.Union(
        ['queued', 'scheduled', 'sending', 'sent', 'failed', 'cancelled'].map((s) =>
          Type.Literal(s),
        ),
      ),
    ),
    recipient: Type.Optional(
      Type.String({ maxLength: 320, description: 'an address, or @domain for a whole domain' }),
    ),
    category: Type.Optional(Type.String({ maxLength: 255 })),
    ...MessageQueryFields,
    ...CountField,
    metadata: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 10 })], {
        description: 'key=value; repeat to require several',
      }),
    ),
    unconfirmed: Type.Optional(
      Type.Union([Type.Literal('true'), Type.Literal('false')], {
        description:
          'true: only messages the provider accepted (sent) longer than TEGAMI_UNCONFIRMED_AFTER_S ago with no delivery event since',
      }),
    ),
    created_after: Type.Optional(Type.String({ description: 'ISO 8601, inclusive' })),
    created_before: Type.Optional(Type.String({ description: 'ISO 8601, exclusive' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 500, default 50' }),
    ),
  },
  strict,
);
export type ListQuery = Static<typeof ListQuerySchema>;

export const IdParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) }, strict);

const ProviderViewFields = {
  state: Type.String({ description: 'healthy, throttled, unavailable, paused, or unknown' }),
  reason: Type.Union([Type.String(), Type.Null()]),
  since: Type.Union([Type.String(), Type.Null()]),
  next_check_at: Type.Union([Type.String(), Type.Null()]),
};

export const ProviderListSchema = Type.Object({
  unconfirmed_messages: Type.Optional(
    Type.Integer({
      description:
        'messages sent in the last 48 hours, longer than TEGAMI_UNCONFIRMED_AFTER_S ago, with no delivery event: accepted, then silence',
    }),
  ),
  providers: Type.Array(
    Type.Object({
      name: Type.String(),
      ...ProviderViewFields,
      credentials: Type.Union(
        [
          Type.Object({
            result: Type.String({ description: 'valid, refused or unverified' }),
            detail: Type.String(),
            checked_at: Type.String(),
          }),
          Type.Null(),
        ],
        {
          description:
            'What the provider said about the credentials when the worker started (SendGrid: GET /v3/scopes); null for providers without credentials',
        },
      ),
      accepted: Type.Integer({ description: 'accepted sends since the workers started' }),
      failed: Type.Integer(),
      recent_errors: Type.Array(
        Type.Object({
          error_class: Type.String(),
          count: Type.Integer(),
          last_at: Type.String(),
          last_detail: Type.Union([Type.String(), Type.Null()]),
        }),
      ),
      workers: Type.Array(
        Type.Object({
          worker: Type.String(),
          ...ProviderViewFields,
          updated_at: Type.String(),
          stale: Type.Boolean({
            description: 'no heartbeat for 3 s: the worker is late and may be gone',
          }),
        }),
      ),
    }),
  ),
});
