import { Type } from '@sinclair/typebox';

/** An entry of the suppression list. */
export const SuppressionSchema = Type.Object({
  email: Type.String(),
  reason: Type.String({ description: 'bounce, blocked, spamreport, unsubscribe or manual' }),
  source: Type.String({ description: "event (a provider's delivery event) or api" }),
  detail: Type.Union([Type.String(), Type.Null()], {
    description: "the provider's reason text, when the event had one",
  }),
  created_at: Type.String(),
});
