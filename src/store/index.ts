import { SqlApiKeyStore } from './api-keys/store.ts';
import { SqlAuditStore } from './audit/store.ts';
import { createMaintenanceStore } from './cluster/store.ts';
import { SqlDeliveryStore } from './delivery/store.ts';
import type { DatabaseHandle } from './engine/handle.ts';
import { SqlDeliveryEventStore } from './events/store.ts';
import { SqlMessageStore, type SubmissionOptions } from './messages/store.ts';
import { SqlOperationsQueries } from './operations/store.ts';
import { SqlProbeRequests } from './probes/store.ts';
import { SqlProviderHealthStore } from './provider-health/store.ts';
import { SqlRecoveryStore } from './recoveries/store.ts';
import { SqlSandboxOutbox } from './sandbox/store.ts';
import { SqlWebhookStore } from './status-webhooks/store.ts';
import { SqlSuppressionStore } from './suppressions/store.ts';
import { SqlUnitStore } from './units/store.ts';

/**
 * The store's door: open a database (engine/), then `createStores` for the objects that
 * implement the domain's ports. Each of their methods calls one operation file (one SQL
 * operation each, grouped by area: messages/, delivery/, events/, …); the objects own what must
 * live as long as they do: group commits, the API-key cache, the late-matching walk.
 */

export interface StoreOptions {
  /** How many sandbox messages the outbox keeps (the newest). */
  sandboxOutboxLimit: number;
  /** Whether blocks put their addresses on the suppression list, like hard bounces. */
  suppressBlocks?: boolean;
  /** Unmatched delivery events older than this are no longer matched later. */
  eventMatchWindowMs?: number;
  /** How accepted mail is written: on another thread, handed to a worker (SubmissionOptions). */
  submissions?: SubmissionOptions;
  /** Whether delivery results wait for the disk (`sync`, when not said) or not (`async`). */
  resultCommit?: 'async' | 'sync';
}

export type Stores = ReturnType<typeof createStores>;

export function createStores(handle: DatabaseHandle, options: StoreOptions) {
  const messages = new SqlMessageStore(handle, options.submissions);
  const deliveryEvents = new SqlDeliveryEventStore(handle, {
    ...(options.suppressBlocks !== undefined ? { suppressBlocks: options.suppressBlocks } : {}),
    ...(options.eventMatchWindowMs !== undefined
      ? { matchWindowMs: options.eventMatchWindowMs }
      : {}),
  });
  return {
    apiKeys: new SqlApiKeyStore(handle),
    messages,
    delivery: new SqlDeliveryStore(
      handle,
      options.resultCommit ? { resultCommit: options.resultCommit } : {},
    ),
    deliveryEvents,
    suppressions: new SqlSuppressionStore(handle),
    statusWebhooks: new SqlWebhookStore(handle),
    sandboxOutbox: new SqlSandboxOutbox(handle, options.sandboxOutboxLimit),
    providerHealth: new SqlProviderHealthStore(handle),
    units: new SqlUnitStore(handle),
    audit: new SqlAuditStore(handle),
    recoveries: new SqlRecoveryStore(handle),
    operationsQueries: new SqlOperationsQueries(handle),
    probes: new SqlProbeRequests(handle),
    maintenance: createMaintenanceStore(handle, messages, deliveryEvents),
  };
}

export { SqlApiKeyStore } from './api-keys/store.ts';
export { SqlAuditStore } from './audit/store.ts';
export { createMaintenanceStore, SqlLeaderLease } from './cluster/store.ts';
export { releaseWaitingUnknown } from './delivery/release-waiting-unknown.ts';
export { SqlDeliveryStore } from './delivery/store.ts';
export type { Channel, DatabaseHandle, Dialect, Engine } from './engine/handle.ts';
export {
  appliedMigrations,
  migrateTo,
  migrateToLatest,
  missingMigrations,
  pendingMigrations,
  unknownMigrations,
} from './engine/migrate.ts';
export { type OpenOptions, openDatabase } from './engine/open.ts';
export { isPostgresUrl, parsePostgresUrl, redactUrl } from './engine/postgres.ts';
export { type TablePrivileges, tablePrivileges } from './engine/privileges.ts';
export { DatabaseUrlError, sqlitePathFromUrl } from './engine/sqlite.ts';
export { SharedWriteLock } from './engine/write-lock.ts';
export { SqlDeliveryEventStore } from './events/store.ts';
export { SqlMessageStore, type SubmissionOptions } from './messages/store.ts';
export { SqlOperationsQueries } from './operations/store.ts';
export { SqlProbeRequests } from './probes/store.ts';
export { SqlProviderHealthStore } from './provider-health/store.ts';
export { SqlRecoveryStore } from './recoveries/store.ts';
export { SqlSandboxOutbox } from './sandbox/store.ts';
export { ensureSubjectIndexStatistics, indexSubjects } from './search/index-subjects.ts';
export { enqueueWebhookEvents } from './status-webhooks/enqueue.ts';
export { shareSlots } from './status-webhooks/share-slots.ts';
export { SqlWebhookStore } from './status-webhooks/store.ts';
export { assignSuppressionUnits } from './suppressions/assign-units.ts';
export { SqlSuppressionStore } from './suppressions/store.ts';
export { SqlUnitRateWindows } from './units/rate-windows.ts';
export { SqlUnitStore } from './units/store.ts';
