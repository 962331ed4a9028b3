import type { DeliveryEvent } from '../../domain/types.ts';
import type { DeliveryEventTable } from '../schema.ts';

/** A stored event matched to its message, to fold into the recipient's status. */
export interface Matched {
  messageId: string;
  email: string;
  key: string;
  event: string;
  bounceType: string | null;
  occurredAt: number;
}

/** A received event as its row in `delivery_events`. */
export function toEventRow(
  e: DeliveryEvent,
  messageId: string | null,
  receivedAt: number,
): DeliveryEventTable {
  return {
    event_key: e.key,
    provider: e.provider,
    message_id: messageId,
    email_normalized: e.email.toLowerCase(),
    event: e.event,
    occurred_at: e.occurredAt,
    received_at: receivedAt,
    provider_message_id: e.providerMessageId,
    payload: JSON.stringify(e.raw),
  };
}
