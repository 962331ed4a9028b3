import { type DeliveryStatus, statusOfEvent } from '../../domain/recipient-state.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import type { DeliveryEventTable } from '../schema.ts';

/** A stored event matched to its message, to fold into the recipient's status. */
export interface Matched {
  messageId: string;
  email: string;
  key: string;
  /** The delivery status the event sets (its row's `delivery_status`); null: it sets none. */
  status: DeliveryStatus | null;
  occurredAt: number;
}

/** A row of `delivery_events` as this release writes it: with the delivery status the event sets. */
type EventRow = Omit<DeliveryEventTable, 'delivery_status'> & {
  delivery_status: DeliveryStatus | null;
};

/** A received event as its row in `delivery_events`. */
export function toEventRow(
  e: DeliveryEvent,
  messageId: string | null,
  receivedAt: number,
): EventRow {
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
    delivery_status: statusOfEvent(e.event, e.bounceType),
  };
}
