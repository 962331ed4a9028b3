import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type {
  DeletedEndpointCursor,
  DueWebhookDelivery,
  NewWebhookEndpoint,
  StatusWebhookStore,
  WebhookDelivery,
  WebhookDeliveryQuery,
  WebhookEndpoint,
} from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { claimDueDeliveries } from './claim-due.ts';
import { countPendingDeliveries } from './count-pending.ts';
import { createEndpoint } from './create-endpoint.ts';
import { disableEndpoint } from './disable-endpoint.ts';
import { findEndpoint } from './find-endpoint.ts';
import { listDeliveries, listMessageDeliveries, listNewestDeliveries } from './list-deliveries.ts';
import { listDeletedEndpoints, listEndpoints } from './list-endpoints.ts';
import { type AttemptResult, recordAttempt } from './record-attempt.ts';
import { redeliver } from './redeliver.ts';
import { rotateSecret } from './rotate-secret.ts';

/**
 * Endpoints (for the API) and the delivery outbox (for the dispatcher). Deliveries are queued
 * by the writes that change a status (enqueue.ts), in their own transactions.
 */
export class SqlWebhookStore implements StatusWebhookStore {
  constructor(private readonly handle: DatabaseHandle) {}

  create(
    input: NewWebhookEndpoint,
    audit: (created: WebhookEndpoint) => AuditEvent,
  ): Promise<WebhookEndpoint> {
    return createEndpoint(this.handle, input, audit);
  }

  list(unitId?: string, page?: { limit: number; beforeId?: string }): Promise<WebhookEndpoint[]> {
    return listEndpoints(this.handle, unitId, page);
  }

  listDeleted(
    page: { limit: number; before?: DeletedEndpointCursor },
    unitId?: string,
  ): Promise<WebhookEndpoint[]> {
    return listDeletedEndpoints(this.handle, page, unitId);
  }

  find(
    id: string,
    unitId?: string,
    options?: { deleted?: boolean },
  ): Promise<WebhookEndpoint | null> {
    return findEndpoint(this.handle, id, unitId, options);
  }

  disable(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (deleted: WebhookEndpoint) => AuditEvent,
  ): Promise<boolean> {
    return disableEndpoint(this.handle, id, now, unitId, audit);
  }

  rotateSecret(
    id: string,
    change: { secret: string; previousExpiresAt: number | null },
    unitId: string | undefined,
    audit: (rotated: WebhookEndpoint) => AuditEvent,
  ): Promise<WebhookEndpoint | null> {
    return rotateSecret(this.handle, id, change, unitId, audit);
  }

  deliveries(endpointId: string, query: WebhookDeliveryQuery): Promise<WebhookDelivery[]> {
    return listDeliveries(this.handle, endpointId, query);
  }

  newestDeliveries(
    endpointIds: readonly string[],
    limit: number,
  ): Promise<Map<string, WebhookDelivery[]>> {
    return listNewestDeliveries(this.handle, endpointIds, limit);
  }

  messageDeliveries(messageId: string, limit: number): Promise<WebhookDelivery[]> {
    return listMessageDeliveries(this.handle, messageId, limit);
  }

  countPending(endpointId: string, upTo: number): Promise<number> {
    return countPendingDeliveries(this.handle, endpointId, upTo);
  }

  claimDue(request: {
    slots: number;
    perEndpoint: number;
    busy: ReadonlyMap<string, number>;
    leaseMs: number;
    now: number;
  }): Promise<DueWebhookDelivery[]> {
    return claimDueDeliveries(this.handle, request);
  }

  redeliver(
    endpointId: string,
    since: number | null,
    now: number,
    audit: (requeued: number) => AuditEvent,
  ): Promise<number | null> {
    return redeliver(this.handle, endpointId, since, now, audit);
  }

  recordAttempt(id: string, result: AttemptResult): Promise<void> {
    return recordAttempt(this.handle, id, result);
  }
}
