import type { Kysely } from 'kysely';
import { newId } from '../../domain/ids.ts';
import type { WebhookEvent } from '../../domain/status-webhooks.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { unitsOfMessages } from '../messages/units-of-messages.ts';
import type { Database, WebhookDeliveryTable } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';
import { activeEndpoints } from './endpoint-cache.ts';

/**
 * Adds one delivery per subscribed endpoint for each status change, in the caller's transaction
 * (an outbox: the change and its webhooks commit together). Does nothing when no active
 * endpoint wants any of the events.
 */
export async function enqueueWebhookEvents(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  events: WebhookEvent[],
  now: number,
): Promise<void> {
  if (events.length === 0) return;
  const endpoints = await activeEndpoints(trx, handle, now);
  if (endpoints.length === 0) return;
  const units = await unitsOfMessages(
    trx,
    events.map((e) => e.messageId),
  );
  // An endpoint hears its own unit's messages only, unless it was made for every unit.
  const wanted = events.flatMap((event) =>
    endpoints
      .filter(
        (e) =>
          e.events.includes(event.type) &&
          (e.allUnits || e.unitId === units.get(event.messageId)?.id),
      )
      .map((e) => ({ event, endpoint: e })),
  );
  if (wanted.length === 0) return;
  const metadata = new Map<string, Record<string, string>>();
  for (const part of chunks([...new Set(wanted.map((w) => w.event.messageId))])) {
    const rows = await trx
      .selectFrom('message_metadata')
      .select(['message_id', 'key', 'value'])
      .where('message_id', 'in', part)
      .execute();
    for (const r of rows) {
      const entry = metadata.get(r.message_id) ?? {};
      entry[r.key] = r.value;
      metadata.set(r.message_id, entry);
    }
  }
  const createdAt = new Date(now).toISOString();
  const rows: WebhookDeliveryTable[] = wanted.map(({ event, endpoint }) => {
    const id = newId('whd');
    const payload = {
      id,
      type: event.type,
      created_at: createdAt,
      data: {
        message_id: event.messageId,
        unit: units.get(event.messageId)?.name ?? null,
        status: event.status,
        ...(event.recipient ? { recipient: event.recipient } : {}),
        metadata: metadata.get(event.messageId) ?? {},
      },
    };
    return {
      id,
      endpoint_id: endpoint.id,
      event_type: event.type,
      payload: JSON.stringify(payload),
      message_id: event.messageId,
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      last_status: null,
      last_error: null,
      last_error_at: null,
      created_at: now,
      retry_from: now,
      delivered_at: null,
    };
  });
  await handle.dialect.insertRows(trx, 'webhook_deliveries', rows);
}
