import type { DueWebhookDelivery } from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import type { WebhookDeliveryTable } from '../schema.ts';
import { chunks } from '../write/insert-rows.ts';
import { shareSlots } from './share-slots.ts';

type ClaimedRow = Pick<
  WebhookDeliveryTable,
  'id' | 'endpoint_id' | 'payload' | 'attempts' | 'retry_from'
>;

/**
 * Leases due deliveries for a dispatcher's free slots until `now + leaseMs` (by moving
 * `next_attempt_at`), so a dispatcher that dies mid-post leaves them due again. The slots are
 * shared out endpoint by endpoint, oldest due first, one each per round, never more than
 * `perEndpoint` minus what the dispatcher already posts to that endpoint (`busy`): an endpoint
 * with a backlog or a slow receiver cannot take the slots that other endpoints' deliveries
 * need. Endpoints deleted meanwhile are included, so their leftovers are closed. PostgreSQL:
 * SKIP LOCKED lets several dispatchers claim side by side.
 */
export function claimDueDeliveries(
  handle: DatabaseHandle,
  request: {
    slots: number;
    perEndpoint: number;
    busy: ReadonlyMap<string, number>;
    leaseMs: number;
    now: number;
  },
): Promise<DueWebhookDelivery[]> {
  const { slots, perEndpoint, busy, leaseMs, now } = request;
  const full = [...busy].filter(([, n]) => n >= perEndpoint).map(([id]) => id);
  return handle.writeTransaction(async (trx) => {
    // One index probe per endpoint (webhook_deliveries_endpoint_due), however long the
    // backlog or the delivered history.
    let waiting = trx.selectFrom('webhook_endpoints as e').select((eb) => [
      'e.id',
      eb
        .selectFrom('webhook_deliveries as d')
        .select((d) => d.fn.min('d.next_attempt_at').as('oldest'))
        .whereRef('d.endpoint_id', '=', 'e.id')
        .where('d.status', '=', 'pending')
        .where('d.next_attempt_at', '<=', now)
        .as('oldest'),
    ]);
    if (full.length > 0) waiting = waiting.where('e.id', 'not in', full);
    const endpoints = await trx
      .selectFrom(waiting.as('w'))
      .select(['w.id', 'w.oldest'])
      .where('w.oldest', 'is not', null)
      .orderBy('w.oldest')
      .orderBy('w.id')
      // At most one endpoint per slot can get a share.
      .limit(slots)
      .execute();
    const shares = shareSlots(
      endpoints.map((e) => ({ id: e.id, room: perEndpoint - (busy.get(e.id) ?? 0) })),
      slots,
    );
    if (shares.length === 0) return [];
    const claimed: ClaimedRow[] = [];
    // SQLite allows at most 500 terms in one compound SELECT.
    for (const part of chunks(shares, 100)) {
      const arms = part.map(([endpointId, n]) => {
        const arm = handle.dialect.skipLocked(
          trx
            .selectFrom('webhook_deliveries')
            .select('id')
            .where('endpoint_id', '=', endpointId)
            .where('status', '=', 'pending')
            .where('next_attempt_at', '<=', now)
            .orderBy('next_attempt_at')
            .limit(n),
        );
        return trx.selectFrom(arm.as('arm')).select('arm.id');
      });
      const [first, ...rest] = arms;
      if (!first) continue;
      const due = rest.reduce((union, arm) => union.unionAll(arm), first);
      claimed.push(
        ...(await trx
          .updateTable('webhook_deliveries')
          .set({ next_attempt_at: now + leaseMs })
          .where('id', 'in', due)
          .returning(['id', 'endpoint_id', 'payload', 'attempts', 'retry_from'])
          .execute()),
      );
    }
    if (claimed.length === 0) return [];
    const active = await trx
      .selectFrom('webhook_endpoints')
      .select(['id', 'url', 'secret', 'previous_secret', 'previous_secret_expires_at'])
      .where('id', 'in', [...new Set(claimed.map((c) => c.endpoint_id))])
      .where('disabled_at', 'is', null)
      .execute();
    const byId = new Map(active.map((e) => [e.id, e]));
    return claimed.map((c) => {
      const endpoint = byId.get(c.endpoint_id);
      const previousInForce =
        endpoint?.previous_secret_expires_at != null && endpoint.previous_secret_expires_at > now;
      return {
        id: c.id,
        endpointId: c.endpoint_id,
        payload: c.payload,
        attempts: c.attempts,
        retryFrom: c.retry_from,
        url: endpoint?.url ?? null,
        secret: endpoint?.secret ?? null,
        previousSecret: previousInForce ? (endpoint?.previous_secret ?? null) : null,
      };
    });
  });
}
