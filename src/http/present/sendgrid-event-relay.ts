import type { EventRelay, RelayCounts } from '../../domain/ports/sendgrid-event-relay-store.ts';

export function presentEventRelay(relay: EventRelay, unitName: string, counts: RelayCounts) {
  return {
    unit: unitName,
    url: relay.url,
    public_key: relay.publicKey,
    pending: counts.pending,
    failed: counts.failed,
    created_at: new Date(relay.createdAt).toISOString(),
    updated_at: new Date(relay.updatedAt).toISOString(),
  };
}
