import type { SendGridEventRelayStore } from '../../domain/ports/sendgrid-event-relay-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { claimRelayedEvents } from './claim-relayed-events.ts';
import { countRelayedEvents } from './count-relayed-events.ts';
import { deletePostedEvents } from './delete-posted-events.ts';
import { getEventRelay } from './get-event-relay.ts';
import { pruneFailedRelayEvents } from './prune-failed-relay-events.ts';
import { putEventRelay } from './put-event-relay.ts';
import { queueRelayedEvents } from './queue-relayed-events.ts';
import { removeEventRelay } from './remove-event-relay.ts';
import { scheduleRelayRetry } from './schedule-relay-retry.ts';

/** The SendGrid event relay's port, one SQL operation per file beside this one. */
export function sqlSendGridEventRelayStore(handle: DatabaseHandle): SendGridEventRelayStore {
  return {
    put: (unitId, url, keys, now, audit) => putEventRelay(handle, unitId, url, keys, now, audit),
    get: (unitId) => getEventRelay(handle, unitId),
    remove: (unitId, audit) => removeEventRelay(handle, unitId, audit),
    counts: (unitId) => countRelayedEvents(handle, unitId),
    queue: (eventKeys, now) => queueRelayedEvents(handle, eventKeys, now),
    claimDue: (now, limit, leaseMs) => claimRelayedEvents(handle, now, limit, leaseMs),
    posted: (eventKeys) => deletePostedEvents(handle, eventKeys),
    retryLater: (eventKeys, result) => scheduleRelayRetry(handle, eventKeys, result),
    pruneFailed: (before, limit) => pruneFailedRelayEvents(handle, before, limit),
  };
}
