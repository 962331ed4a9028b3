import type { DeliveryEventStore } from '../../domain/ports/delivery-event-store.ts';
import type { SendGridEventRelayStore } from '../../domain/ports/sendgrid-event-relay-store.ts';

/**
 * The delivery event store with the SendGrid event relay behind it: once a batch is stored, its
 * events that belong to relayed mail are queued for their unit's old Event Webhook URL. Queued
 * after the store's own transaction, and before the provider is answered: if queuing fails the
 * provider is answered with an error and posts the batch again, so no event is left unrelayed
 * (the events are then duplicates for the store, and queued once).
 */
export function withEventRelay(
  store: DeliveryEventStore,
  relay: SendGridEventRelayStore,
  onQueued: () => void = () => {},
): DeliveryEventStore {
  return {
    async ingest(events, now) {
      const result = await store.ingest(events, now);
      const queued = await relay.queue(
        events.map((e) => e.key),
        now,
      );
      if (queued > 0) onQueued();
      return result;
    },
    recentEvents: (messageId, perGroup) => store.recentEvents(messageId, perGroup),
    eventPage: (messageId, page) => store.eventPage(messageId, page),
  };
}
