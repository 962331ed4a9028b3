import type { WebhookDelivery } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';

/** The endpoint's delivery log, newest first. */
export async function listDeliveries(
  handle: DatabaseHandle,
  endpointId: string,
  limit: number,
): Promise<WebhookDelivery[]> {
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
    .where('endpoint_id', '=', endpointId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    endpointId: r.endpoint_id,
    eventType: r.event_type,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
  }));
}
