import { firstIdAt } from '../../domain/ids.ts';
import type { WebhookDelivery } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/**
 * The status webhooks about one message: their ids are ULIDs, so the ones queued during the
 * message's life are a range of the primary key; within it, the body names the message.
 */
export async function statusWebhooksOfMessage(
  handle: DatabaseHandle,
  messageId: string,
  from: number,
  to: number,
  limit: number,
): Promise<WebhookDelivery[]> {
  // An id is `msg_`, letters and digits: its one `_` matches itself as a LIKE wildcard too, and
  // every message id has it in the same place.
  if (!/^msg_[0-9A-Za-z]+$/.test(messageId)) return [];
  const needle = `%"message_id":"${messageId}"%`;
  const rows = await handle.db
    .selectFrom('webhook_deliveries')
    .select([
      'id',
      'endpoint_id',
      'event_type',
      'status',
      'attempts',
      'next_attempt_at',
      'last_status',
      'last_error',
      'created_at',
      'delivered_at',
    ])
    .where('id', '>=', firstIdAt('whd', from))
    .where('id', '<', firstIdAt('whd', to + 1))
    .where('payload', 'like', needle)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    endpointId: r.endpoint_id,
    eventType: r.event_type,
    messageId,
    status: r.status,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
  }));
}
