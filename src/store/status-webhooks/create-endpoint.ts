import { newId } from '../../domain/ids.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type {
  NewWebhookEndpoint,
  WebhookEndpoint,
} from '../../domain/ports/status-webhook-store.ts';
import { insertAuditEvent } from '../audit/insert.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { forgetEndpoints } from './endpoint-cache.ts';
import { toEndpoint } from './rows.ts';

/**
 * Adds an endpoint, with its `audit` event in the same transaction; deliveries to it start with
 * the next status change.
 */
export async function createEndpoint(
  handle: DatabaseHandle,
  input: NewWebhookEndpoint,
  audit: (created: WebhookEndpoint) => AuditEvent,
): Promise<WebhookEndpoint> {
  const row = {
    id: newId('whk'),
    url: input.url,
    event_types: JSON.stringify(input.events),
    secret: input.secret,
    created_at: input.now,
    disabled_at: null,
    unit_id: input.unitId,
    all_units: input.allUnits ? 1 : 0,
    previous_secret: null,
    previous_secret_expires_at: null,
  };
  const endpoint = toEndpoint(row);
  await handle.writeTransaction(async (trx) => {
    await trx.insertInto('webhook_endpoints').values(row).execute();
    await insertAuditEvent(trx, audit(endpoint));
  });
  forgetEndpoints(handle);
  return endpoint;
}
