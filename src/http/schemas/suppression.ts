import { Type } from '@sinclair/typebox';

/** An entry of the suppression list. */
export const SuppressionSchema = Type.Object({
  email: Type.String(),
  reason: Type.String({ description: 'bounce, blocked, spamreport, unsubscribe or manual' }),
  source: Type.String({ description: "event (a provider's delivery event) or api" }),
  detail: Type.Union([Type.String(), Type.Null()], {
    description: "the provider's reason text, when the event had one",
  }),
  event_key: Type.Union([Type.String(), Type.Null()], {
    description:
      "the delivery event that put the address on the list (sendgrid:<sg_event_id>): of several, the one that occurred first (then the first sg_event_id), whatever order they arrived in; its reason, detail and message are the entry's. Null when added by hand",
  }),
  message_id: Type.Union([Type.String(), Type.Null()], {
    description:
      'the message that event was about (GET /v1/messages/{id}); null when added by hand or while the event is not matched to a message',
  }),
  created_at: Type.String(),
  unit: Type.Union([Type.String(), Type.Null()], {
    description:
      'whose entry it is: the unit whose mail the event was about, or whose key added it; null: an event not matched to a message',
  }),
});

/** `unit` in the query of the list and of a removal. */
export const SuppressionUnitQuery = Type.Optional(
  Type.String({
    maxLength: 63,
    description: "a unit's name: its entries only (a unit key: its own unit only)",
  }),
);
