import { newAuditEvent } from './operations/audit-event.ts';
import type { Actor } from './operations/scope.ts';
import type {
  NewWebhookEndpoint,
  StatusWebhookStore,
  WebhookEndpoint,
} from './ports/status-webhook-store.ts';
import { generateWebhookSecret } from './status-webhooks.ts';

/**
 * Status webhook endpoints an operator creates, deletes, redelivers to or gives a new secret,
 * through the API or the console alike: each change is written with its audit event
 * (webhook_endpoint.create, .delete, .redeliver, .rotate_secret) in one transaction, at the
 * change's own time, so a process stopped or a database refusing between the two leaves no change
 * off the record, and nothing is recorded when nothing changed.
 */

/** The unit an endpoint's events are recorded under: none for an endpoint of every unit. */
export function recordedUnit(endpoint: WebhookEndpoint): string | null {
  return endpoint.allUnits ? null : endpoint.unitId;
}

/** A new endpoint, recorded with its URL and events (never its secret). */
export function createEndpointByHand(
  store: StatusWebhookStore,
  actor: Actor,
  input: NewWebhookEndpoint,
): Promise<WebhookEndpoint> {
  return store.create(input, (created) =>
    newAuditEvent(
      actor,
      'webhook_endpoint.create',
      {
        unitId: recordedUnit(created),
        target: created.id,
        filter: { url: created.url, events: created.events },
      },
      input.now,
    ),
  );
}

/**
 * Deletes an active endpoint (with `unitId`, only that unit's own). False when there is none to
 * delete (deleted already, someone else first), and nothing is recorded.
 */
export function deleteEndpointByHand(
  store: StatusWebhookStore,
  actor: Actor,
  request: { id: string; unitId: string | undefined },
  now: number,
): Promise<boolean> {
  return store.disable(request.id, now, request.unitId, (deleted) =>
    newAuditEvent(
      actor,
      'webhook_endpoint.delete',
      { unitId: recordedUnit(deleted), target: deleted.id },
      now,
    ),
  );
}

/**
 * Gives an active endpoint (with `unitId`, only that unit's own) a new secret, the replaced one
 * still signing posts for `keepPreviousSeconds` (0: it stops at once). Recorded with that window,
 * never a secret. Null when there is no such endpoint, and nothing is recorded.
 */
export function rotateSecretByHand(
  store: StatusWebhookStore,
  actor: Actor,
  rotation: { id: string; unitId: string | undefined; keepPreviousSeconds: number },
  now: number,
): Promise<WebhookEndpoint | null> {
  const { id, unitId, keepPreviousSeconds } = rotation;
  return store.rotateSecret(
    id,
    {
      secret: generateWebhookSecret(),
      previousExpiresAt: keepPreviousSeconds > 0 ? now + keepPreviousSeconds * 1000 : null,
    },
    unitId,
    (rotated) =>
      newAuditEvent(
        actor,
        'webhook_endpoint.rotate_secret',
        {
          unitId: recordedUnit(rotated),
          target: rotated.id,
          filter: { keep_previous_for_seconds: keepPreviousSeconds },
        },
        now,
      ),
  );
}

/**
 * The endpoint's failed status webhooks queued again (those created at or after `since`, when
 * given). Every request is recorded, with how many it queued (none too), under the endpoint's
 * unit (`recordedUnit`), through the API and the console alike. Answers how many, or null when
 * the endpoint was deleted since the caller found it (nothing queued, nothing recorded).
 */
export function redeliverByHand(
  store: StatusWebhookStore,
  actor: Actor,
  request: { endpoint: WebhookEndpoint; since: number | null },
  now: number,
): Promise<number | null> {
  const { endpoint, since } = request;
  return store.redeliver(endpoint.id, since, now, (requeued) =>
    newAuditEvent(
      actor,
      'webhook_endpoint.redeliver',
      {
        unitId: recordedUnit(endpoint),
        target: endpoint.id,
        filter: since === null ? null : { since: new Date(since).toISOString() },
        counts: { requeued },
      },
      now,
    ),
  );
}
