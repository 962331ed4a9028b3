import type { WebhookEndpoint } from '../../domain/ports/status-webhook-store.ts';
import { readJson } from '../engine/read-json.ts';
import type { Database } from '../schema.ts';

export function toEndpoint(r: Database['webhook_endpoints']): WebhookEndpoint {
  // A row that does not hold a JSON array (edited by hand) subscribes to nothing, rather than
  // failing every transaction that queues webhooks.
  const events = readJson(r.event_types);
  return {
    id: r.id,
    url: r.url,
    events: Array.isArray(events) ? events : [],
    secret: r.secret,
    createdAt: r.created_at,
    unitId: r.unit_id,
    allUnits: r.all_units === 1,
    previousSecretExpiresAt: r.previous_secret === null ? null : r.previous_secret_expires_at,
    deletedAt: r.disabled_at === null ? null : Number(r.disabled_at),
  };
}
