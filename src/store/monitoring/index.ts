import type { MonitoringQueries } from '../../domain/ports/monitoring-queries.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { acceptedUnconfirmedAfter } from './accepted-unconfirmed-after.ts';
import { countByStatusAndUnit } from './count-by-status-and-unit.ts';
import { deadLettersSince } from './dead-letters-since.ts';
import { errorSample } from './error-sample.ts';
import { lastEventAt } from './last-event-at.ts';
import { pendingMessages } from './pending.ts';
import { unconfirmedByUnit } from './unconfirmed-by-unit.ts';

/** What the alert rules and the cluster-wide metrics read (domain/ports/monitoring-queries.ts). */
export function createMonitoringQueries(handle: DatabaseHandle): MonitoringQueries {
  return {
    pending: (now) => pendingMessages(handle, now),
    deadLettersSince: (since) => deadLettersSince(handle, since),
    unconfirmedByUnit: (since, before) => unconfirmedByUnit(handle, since, before),
    errorSample: (errorClass, unitId, failedOnly) =>
      errorSample(handle, errorClass, unitId, failedOnly),
    lastEventAt: () => lastEventAt(handle),
    acceptedUnconfirmedAfter: (after, since) => acceptedUnconfirmedAfter(handle, after, since),
    countByStatusAndUnit: () => countByStatusAndUnit(handle),
  };
}
