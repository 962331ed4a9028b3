import { newAuditEvent } from '../operations/audit-event.ts';
import type { Actor } from '../operations/scope.ts';
import type { EventRelay, SendGridEventRelayStore } from '../ports/sendgrid-event-relay-store.ts';
import type { RelayKeyPair } from './event-relay.ts';

/**
 * A unit's SendGrid event relay set or removed by an operator (PUT and DELETE
 * /v1/sendgrid/event-relay): each change is written with its audit event
 * (sendgrid_event_relay.put, sendgrid_event_relay.delete) in one transaction, so a process
 * stopped or a database refusing between the two leaves no change off the record.
 */

/**
 * Makes the unit's relay with `keys`, or moves the one it has to `url` (its key pair kept).
 * Every put is recorded, one that names the URL the relay had too, as it is written again; the
 * event is at the relay's own updated time and names the URL, which holds no secret (the
 * application's receiver checks the signature).
 */
export function putUnitEventRelay(
  store: SendGridEventRelayStore,
  actor: Actor,
  relay: { unitId: string; url: string; keys: RelayKeyPair },
  now: number,
): Promise<EventRelay> {
  const { unitId, url, keys } = relay;
  return store.put(
    unitId,
    url,
    keys,
    now,
    newAuditEvent(
      actor,
      'sendgrid_event_relay.put',
      { unitId, target: unitId, filter: { url } },
      now,
    ),
  );
}

/** Removes the unit's relay and its queued events: false, and nothing recorded, when it had none. */
export function removeUnitEventRelay(
  store: SendGridEventRelayStore,
  actor: Actor,
  unitId: string,
  now: number,
): Promise<boolean> {
  return store.remove(
    unitId,
    newAuditEvent(actor, 'sendgrid_event_relay.delete', { unitId, target: unitId }, now),
  );
}
