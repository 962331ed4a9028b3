import { Type } from '@sinclair/typebox';
import { EVENTS_SHOWN_PER_RECIPIENT } from '../../domain/delivery-event-limits.ts';
import { AddressSchema } from './address.ts';
import { dispositionSchema } from './message-input.ts';
import { AnyKey, Nullable } from './parts.ts';
import { PrioritySchema } from './priority.ts';

/** One attempt to hand a message to a provider. */
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

/** A provider's delivery event as a message's read shows it. */
export const DeliveryEventSchema = Type.Object({
  event: Type.String(),
  occurred_at: Type.String(),
  received_at: Type.String(),
  detail: Type.Union([Type.String(), Type.Null()], {
    description: "the provider's reason, response or URL, when the event has one",
  }),
  payload: Type.Record(AnyKey, Type.Unknown(), {
    description: 'the event exactly as the provider sent it',
  }),
});

/** An event with the address it is about (lower case). */
export const DeliveryEventOfAddressSchema = Type.Object({
  email: Type.String(),
  ...DeliveryEventSchema.properties,
});

/** One event of `GET /v1/messages/{id}/events`. */
export const PagedDeliveryEventSchema = Type.Object({
  ...DeliveryEventOfAddressSchema.properties,
  matches_recipient: Type.Boolean({
    description:
      "false: the address is none of the message's recipients' (see unmatched_recipient_events)",
  }),
});

/** A message as every read shows it: `GET /v1/messages/{id}`, lists, and the answers of actions. */
export const MessageSchema = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'queued, scheduled, sending, sent, failed or cancelled' }),
  unit: Type.String({ description: 'the business unit it belongs to' }),
  priority: PrioritySchema,
  from: AddressSchema,
  reply_to: Type.Optional(AddressSchema),
  subject: Type.String(),
  text: Type.Optional(Type.String()),
  html: Type.Optional(Type.String()),
  headers: Type.Record(AnyKey, Type.String()),
  categories: Type.Array(Type.String()),
  metadata: Type.Record(AnyKey, Type.String()),
  attachments: Type.Array(
    Type.Object({
      filename: Type.String(),
      content_type: Type.String(),
      size: Type.Integer(),
      disposition: dispositionSchema(
        'inline: shown in the HTML where it names content_id; attachment: a file to open',
      ),
      content_id: Type.Optional(Type.String({ description: 'what cid: links in the HTML name' })),
    }),
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
        Type.Array(DeliveryEventSchema, {
          description: `its newest events (at most ${EVENTS_SHOWN_PER_RECIPIENT}), oldest first; GET /v1/messages/{id}/events reads them all`,
        }),
      ),
      events_total: Type.Optional(
        Type.Integer({ description: 'how many events the recipient has in all' }),
      ),
      events_truncated: Type.Optional(
        Type.Boolean({ description: 'true: older events are not in `events`' }),
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
        'For a due queued or scheduled message: why the provider holds it (paused, unavailable, throttled, no worker running, or workers on another provider than this API process); null otherwise',
    }),
  ),
  unmatched_recipient_events: Type.Optional(
    Type.Array(DeliveryEventOfAddressSchema, {
      description: `Events about this message whose address matches none of its recipients (a forwarder's rewritten address, say): the newest ${EVENTS_SHOWN_PER_RECIPIENT} of them together, oldest first. They change no recipient's delivery status.`,
    }),
  ),
  unmatched_recipient_events_total: Type.Optional(
    Type.Integer({ description: 'how many such events the message has in all' }),
  ),
  unmatched_recipient_events_truncated: Type.Optional(
    Type.Boolean({ description: 'true: older ones are not in `unmatched_recipient_events`' }),
  ),
  attempts: Type.Optional(Type.Array(AttemptSchema)),
  sendgrid: Type.Optional(
    Type.Object(
      {
        x_message_id: Type.String({
          description: 'the X-Message-Id POST /v3/mail/send answered with',
        }),
        personalization: Type.Optional(
          Type.Integer({
            description:
              'the personalization of the request this message was rendered from (providers other than sendgrid)',
          }),
        ),
        forwarded: Type.Boolean({
          description:
            'true: the sendgrid provider forwards the request as the application sent it',
        }),
        template_id: Type.Optional(
          Type.String({
            description:
              "the forwarded request's template_id: SendGrid renders the mail from this template, and Tegami holds only the request's own subject and content (often none), not the mail as sent",
          }),
        ),
      },
      { description: 'Present for mail that came in through POST /v3/mail/send' },
    ),
  ),
});
