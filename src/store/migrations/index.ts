import type { Migration } from 'kysely';
import * as initial from './001-initial.ts';
import * as providerDetails from './002-provider-details.ts';
import * as cluster from './003-cluster.ts';
import * as deliveryEvents from './004-delivery-events.ts';
import * as suppressions from './005-suppressions.ts';
import * as appWebhooks from './006-app-webhooks.ts';
import * as webhookEndpointDue from './007-webhook-endpoint-due.ts';
import * as unmatchedEvents from './008-unmatched-events.ts';
import * as operations from './009-operations.ts';
import * as subjectIndex from './010-subject-index.ts';
import * as alerts from './011-alerts.ts';
import * as sendgridEventRelay from './012-sendgrid-event-relay.ts';
import * as consoleUsers from './013-console-users.ts';
import * as priority from './014-priority.ts';
import * as recipientsFillfactor from './015-recipients-fillfactor.ts';
import * as oneDueIndex from './016-one-due-index.ts';
import * as metadataLookup from './017-metadata-lookup.ts';
import * as unitSuppressions from './018-unit-suppressions.ts';
import * as consoleUserDisabled from './019-console-user-disabled.ts';
import * as consoleSignOuts from './020-console-sign-outs.ts';
import * as signInFailuresByClient from './021-sign-in-failures-by-client.ts';
import * as recoveryOutcome from './022-recovery-outcome.ts';
import * as webhookSecretRotation from './023-webhook-secret-rotation.ts';
import * as xMessageId from './024-x-message-id.ts';
import * as unitRateWindows from './025-unit-rate-windows.ts';
import * as webhookDeliveryMessage from './026-webhook-delivery-message.ts';
import * as deliveryEventStatus from './027-delivery-event-status.ts';
import * as webhookDeliveryErrorTime from './028-webhook-delivery-error-time.ts';
import * as auditActorNameIndex from './029-audit-actor-name-index.ts';
import * as suppressionEventTime from './030-suppression-event-time.ts';

/** Every migration, in order. Names are permanent: they are recorded in the database. */
export const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-provider-details': providerDetails,
  '003-cluster': cluster,
  '004-delivery-events': deliveryEvents,
  '005-suppressions': suppressions,
  '006-app-webhooks': appWebhooks,
  '007-webhook-endpoint-due': webhookEndpointDue,
  '008-unmatched-events': unmatchedEvents,
  '009-operations': operations,
  '010-subject-index': subjectIndex,
  '011-alerts': alerts,
  '012-sendgrid-event-relay': sendgridEventRelay,
  '013-console-users': consoleUsers,
  '014-priority': priority,
  '015-recipients-fillfactor': recipientsFillfactor,
  '016-one-due-index': oneDueIndex,
  '017-metadata-lookup': metadataLookup,
  '018-unit-suppressions': unitSuppressions,
  '019-console-user-disabled': consoleUserDisabled,
  '020-console-sign-outs': consoleSignOuts,
  '021-sign-in-failures-by-client': signInFailuresByClient,
  '022-recovery-outcome': recoveryOutcome,
  '023-webhook-secret-rotation': webhookSecretRotation,
  '024-x-message-id': xMessageId,
  '025-unit-rate-windows': unitRateWindows,
  '026-webhook-delivery-message': webhookDeliveryMessage,
  '027-delivery-event-status': deliveryEventStatus,
  '028-webhook-delivery-error-time': webhookDeliveryErrorTime,
  '029-audit-actor-name-index': auditActorNameIndex,
  '030-suppression-event-time': suppressionEventTime,
};
