import type { Logger } from 'pino';
import { processLeaseOwners } from '../delivery/lease-owner.ts';
import { OperationsService } from '../domain/operations/service.ts';
import type { MessageStore } from '../domain/ports/message-store.ts';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';
import type { RetentionPruned } from '../domain/retention.ts';
import { RecoveryRunner } from '../ops/recovery-runner.ts';
import {
  assignSuppressionUnits,
  type DatabaseHandle,
  ensureSubjectIndexStatistics,
  indexSubjects,
  SqlAuditStore,
  SqlMessageStore,
  SqlOperationsQueries,
  SqlProbeRequests,
  SqlRecoveryStore,
  SqlUnitStore,
} from '../store/index.ts';
import type { Config } from './config.ts';

/**
 * Wires the operations service (src/domain/operations/) to its SQL adapters, for `tegami serve`,
 * `api`, `worker` and the CLI commands, and starts the background parts: the recovery runner and,
 * on SQLite, the subject index.
 */
export interface Operations {
  service: OperationsService;
  recoveries: SqlRecoveryStore;
  audit: SqlAuditStore;
  probes: SqlProbeRequests;
  units: SqlUnitStore;
}

/**
 * Whether delivery events confirm mail for a process of this configuration: only with the Event
 * Webhook. A process without it counts no message "unconfirmed" (see createOperations).
 */
export function eventsConfirm(config: Pick<Config, 'sendgridWebhook'>): boolean {
  return Boolean(config.sendgridWebhook.publicKey || config.sendgridWebhook.insecure);
}

export function createOperations(
  database: DatabaseHandle,
  config: Pick<Config, 'unsentAfterMs' | 'unconfirmedAfterMs' | 'sendgridWebhook'>,
  hooks: {
    messages?: MessageStore;
    onRecoveryStarted?: () => void;
    onRequeued?: () => void;
  } = {},
): Operations {
  const units = new SqlUnitStore(database);
  const audit = new SqlAuditStore(database);
  const recoveries = new SqlRecoveryStore(database);
  const probes = new SqlProbeRequests(database);
  const service = new OperationsService({
    units,
    messages: hooks.messages ?? new SqlMessageStore(database),
    queries: new SqlOperationsQueries(database),
    recoveries,
    audit,
    probes,
    unsentAfterMs: config.unsentAfterMs,
    // Without the Event Webhook nothing can be confirmed: no message is "unconfirmed".
    unconfirmedAfterMs: eventsConfirm(config) ? config.unconfirmedAfterMs : null,
    ...(hooks.onRecoveryStarted ? { onRecoveryStarted: hooks.onRecoveryStarted } : {}),
    ...(hooks.onRequeued ? { onRequeued: hooks.onRequeued } : {}),
  });
  return { service, recoveries, audit, probes, units };
}

/** Audit events deleted per transaction, and the most per maintenance round. */
const AUDIT_PRUNE_BATCH = 1_000;
const AUDIT_PRUNE_BATCHES = 20;
const DAY_MS = 24 * 3600_000;

/** What the operations layer deletes by a retention, once per cluster, for cluster-jobs.ts. */
export function operationsRetention(
  operations: Operations,
  config: Pick<Config, 'auditRetentionDays' | 'retentionDays'>,
): ((now: number) => Promise<Partial<RetentionPruned>>)[] {
  return [
    // The sets of recoveries that ended longer ago than message retention: their messages are
    // gone too. The recoveries themselves (counts, filter, who) stay.
    async (now) => ({
      recoverySetEntries: await operations.recoveries.pruneFinishedSets(
        now - config.retentionDays * DAY_MS,
        10_000,
      ),
    }),
    async (now) => {
      let auditEvents = 0;
      for (let i = 0; i < AUDIT_PRUNE_BATCHES; i++) {
        const pruned = await operations.audit.prune(
          now - config.auditRetentionDays * DAY_MS,
          AUDIT_PRUNE_BATCH,
        );
        auditEvents += pruned;
        if (pruned < AUDIT_PRUNE_BATCH) break;
      }
      return { auditEvents };
    },
  ];
}

/** Once-per-cluster jobs of the operations layer that delete nothing, for cluster-jobs.ts. */
export function operationsMaintenance(database: DatabaseHandle): (() => Promise<unknown>)[] {
  return [
    // Suppressions from events matched to their message only later get that message's unit.
    () => database.writeTransaction((trx) => assignSuppressionUnits(trx, database.dialect)),
  ];
}

/** How often the subject index catches up with new messages. */
const SEARCH_INDEX_INTERVAL_MS = 1_000;
/** Messages one catch-up indexes before the index's statistics are checked (PostgreSQL). */
const SUBJECT_INDEX_ANALYZE_AFTER = 1_000;

/** The recovery runner and the subject index, until `stop`. */
export function startOperationsJobs(
  database: DatabaseHandle,
  operations: Operations,
  logger: Logger,
  onRequeued: () => void,
  outage: OutageReporter,
): { runner: RecoveryRunner; stop: () => Promise<void> } {
  const runner = new RecoveryRunner({
    store: operations.recoveries,
    logger: logger.child({ component: 'recoveries' }),
    leaseOwners: processLeaseOwners,
    outage,
    onRequeued,
  });
  runner.start();
  let indexing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  {
    const catchUp = async () => {
      // Batch by batch, yielding between them, so requests are served while it catches up.
      let indexed = 0;
      while (!stopped) {
        const batch = await indexSubjects(database, Date.now());
        if (batch === 0) break;
        indexed += batch;
        await new Promise((resolve) => setImmediate(resolve));
      }
      // A catch-up of many (after an upgrade): the planner needs the table's statistics.
      if (
        indexed >= SUBJECT_INDEX_ANALYZE_AFTER &&
        (await ensureSubjectIndexStatistics(database))
      ) {
        logger.info({ indexed }, 'gathered the subject index statistics after a catch-up');
      }
    };
    timer = setInterval(() => {
      indexing = indexing.then(catchUp).then(
        () => outage.succeeded('indexing subjects'),
        (err: unknown) => outage.failed('indexing subjects', err),
      );
    }, SEARCH_INDEX_INTERVAL_MS);
    timer.unref();
  }
  return {
    runner,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await runner.stop();
      await indexing;
    },
  };
}
