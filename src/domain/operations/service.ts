import { unsetSettings } from '../alerts/service.ts';
import { newId } from '../ids.ts';
import type { UnitAlertSettings } from '../ports/alert-store.ts';
import type { MessageFilter, MessageStore, StateChange } from '../ports/message-store.ts';
import type { MessageRecord } from '../types.ts';
import { type AuditNames, type AuditQuery, auditTargetKind, readActorFilter } from './audit.ts';
import {
  type AuditAction,
  type AuditEvent,
  type AuditFields,
  newAuditEvent,
} from './audit-event.ts';
import { OperationsError } from './errors.ts';
import { isEmptyQuery, type MessageQuery, queryToJson } from './message-query.ts';
import type {
  AuditLog,
  Breakdown,
  OperationsQueries,
  ProbeRequests,
  RecoveryStore,
  UnitDirectory,
  UnitPage,
  UnsentSummaryData,
} from './ports.ts';
import {
  DRY_RUN_SAMPLE,
  MAX_RATE_PER_S,
  type RecoveryAction,
  type RecoveryOutcome,
  type RecoveryRecord,
  recoveryOutcome,
} from './recovery.ts';
import type { Actor, Scope } from './scope.ts';
import { noSuchUnitFilter, type Unit, unitNameProblem } from './units.ts';
import { type UnsentReason, unsentReason, unsentWindow } from './unsent.ts';

/**
 * The operations layer, one service for the API, the CLI and (later) the console, so a rule holds
 * the same whichever way an operator acts: who sees what (units), finding unsent mail, bulk
 * recovery with a dry run, and the audit log of every operator action.
 */
export interface OperationsDeps {
  units: UnitDirectory;
  messages: MessageStore;
  queries: OperationsQueries;
  recoveries: RecoveryStore;
  audit: AuditLog;
  probes: ProbeRequests;
  /** Never tried and due longer than this: unsent (`waiting`). */
  unsentAfterMs: number;
  /**
   * Sent longer than this ago with no delivery event: unsent (`unconfirmed`). Null when no
   * delivery events can arrive.
   */
  unconfirmedAfterMs: number | null;
  clock?: () => number;
  /** A recovery was started: a runner may take it at once. */
  onRecoveryStarted?: () => void;
  /** Messages were made due by hand: workers may look at once. */
  onRequeued?: () => void;
}

export interface RecoveryRequest {
  action: RecoveryAction;
  query: MessageQuery;
  /** Default: true. Only `false` changes anything. */
  dryRun?: boolean;
  ratePerS?: number | null;
}

export interface DryRunResult {
  action: RecoveryAction;
  filter: Record<string, unknown>;
  breakdown: Breakdown;
  /** Up to 20 of the matched messages, newest first. */
  sample: MessageRecord[];
}

export interface UnsentItem {
  record: MessageRecord;
  reason: UnsentReason;
}

export interface UnsentSummary {
  total: number;
  byReason: Record<UnsentReason, number>;
  byUnit: { unit: string; count: number }[];
  byProvider: { provider: string | null; count: number }[];
  byErrorClass: { errorClass: string | null; count: number }[];
  oldestWaiting: { id: string; dueSince: number; ageMs: number } | null;
  oldestPending: { id: string; reason: UnsentReason; dueSince: number; ageMs: number } | null;
}

/** A unit and its settings (its Slack channel, alert thresholds, sending limit, priority). */
export interface UnitWithSettings {
  unit: Unit;
  settings: UnitAlertSettings;
}

const NOTHING = Symbol('matches nothing');

export class OperationsService {
  private readonly clock: () => number;

  constructor(private readonly deps: OperationsDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  // --- scope and filters -------------------------------------------------------------------

  /**
   * The store filter for an operator's query in `scope`, or null when it can match nothing (a
   * unit key naming another unit: treated like an unknown unit, so nothing leaks). An admin
   * naming a unit that does not exist is told so.
   */
  async filterFor(
    scope: Scope,
    query: MessageQuery,
    options: { unsent?: boolean } = {},
  ): Promise<MessageFilter | null> {
    const unitId = await this.unitIdFor(scope, query.unit);
    if (unitId === NOTHING) return null;
    const { unit: _unit, reason, ...rest } = query;
    const filter: MessageFilter = { ...rest, limit: 0 };
    if (unitId !== undefined) filter.unitId = unitId;
    if (options.unsent || reason) {
      filter.unsent = {
        ...(reason ? { reason } : {}),
        window: unsentWindow(this.clock(), this.deps),
      };
    }
    return filter;
  }

  private async unitIdFor(
    scope: Scope,
    unitName: string | undefined,
  ): Promise<string | undefined | typeof NOTHING> {
    if (unitName === undefined) return scope.kind === 'unit' ? scope.unitId : undefined;
    const unit = await this.deps.units.findByName(unitName);
    if (scope.kind === 'unit') return unit?.id === scope.unitId ? unit.id : NOTHING;
    if (!unit) throw noSuchUnitFilter(unitName);
    return unit.id;
  }

  private scopeUnitId(scope: Scope): string | undefined {
    return scope.kind === 'unit' ? scope.unitId : undefined;
  }

  private requireAdmin(scope: Scope, what: string): void {
    if (scope.kind !== 'all')
      throw new OperationsError('forbidden', `only an admin key may ${what}`);
  }

  unitNames(ids: Iterable<string>): Promise<Map<string, string>> {
    return this.deps.units.namesOf(ids);
  }

  findUnit(name: string): Promise<Unit | null> {
    return this.deps.units.findByName(name);
  }

  // --- units -------------------------------------------------------------------------------

  /** Every unit by name, or a page of them (admin keys only). */
  async listUnits(scope: Scope, page?: UnitPage): Promise<Unit[]> {
    this.requireAdmin(scope, 'list units');
    return this.deps.units.list(page);
  }

  /**
   * The unit named just before `name`, in the order units are listed (admin keys only): the page
   * after it begins at `name`; null when `name` comes first.
   */
  async unitNamedBefore(scope: Scope, name: string): Promise<Unit | null> {
    this.requireAdmin(scope, 'list units');
    return this.deps.units.namedBefore(name);
  }

  /**
   * A unit by id or name with its settings, as `GET /v1/units/{id}` shows it. A unit key reads
   * its own unit only: another unit does not exist for it.
   */
  async unitWithSettings(scope: Scope, ref: string): Promise<UnitWithSettings> {
    const unit = ref.startsWith('unit_')
      ? await this.deps.units.findById(ref)
      : await this.deps.units.findByName(ref);
    if (!unit || (scope.kind === 'unit' && scope.unitId !== unit.id))
      throw new OperationsError('not_found', `no unit ${ref}`);
    const [settings] = await this.deps.units.settingsOf([unit.id]);
    return { unit, settings: settings ?? unsetSettings(unit) };
  }

  /**
   * Units with their settings (admin keys only), every one or a page: the settings of them all in
   * one query.
   */
  async listUnitsWithSettings(scope: Scope, page?: UnitPage): Promise<UnitWithSettings[]> {
    return this.withSettings(await this.listUnits(scope, page));
  }

  /**
   * Units with their settings, each as `unitWithSettings` gives it: the settings read in one
   * query, not one per unit; a unit that set none has `unsetSettings`.
   */
  async withSettings(units: Unit[]): Promise<UnitWithSettings[]> {
    if (units.length === 0) return [];
    const set = await this.deps.units.settingsOf(units.map((u) => u.id));
    const byUnit = new Map(set.map((s) => [s.unitId, s]));
    return units.map((unit) => ({ unit, settings: byUnit.get(unit.id) ?? unsetSettings(unit) }));
  }

  async createUnit(scope: Scope, actor: Actor, name: string): Promise<Unit> {
    this.requireAdmin(scope, 'create units');
    const problem = unitNameProblem(name);
    if (problem) {
      throw new OperationsError('invalid', 'the unit is invalid; see details', [
        { field: 'name', message: problem },
      ]);
    }
    const now = this.clock();
    const unit: Unit = { id: newId('unit'), name, createdAt: now };
    // The unit's own time: the log and the unit say one instant.
    const audit = this.event(actor, 'unit.create', { unitId: unit.id, target: unit.id }, now);
    if (!(await this.deps.units.create(unit, audit))) {
      throw new OperationsError('exists', `a unit named "${name}" already exists`);
    }
    return unit;
  }

  // --- finding mail ------------------------------------------------------------------------

  async unsent(
    scope: Scope,
    query: MessageQuery,
    page: { beforeId?: string; limit: number },
  ): Promise<UnsentItem[]> {
    const filter = await this.filterFor(scope, query, { unsent: true });
    if (!filter) return [];
    const records = await this.deps.messages.list({
      ...filter,
      ...(page.beforeId ? { beforeId: page.beforeId } : {}),
      limit: page.limit,
    });
    return records.map((record) => ({ record, reason: unsentReason(record) }));
  }

  async unsentSummary(scope: Scope, query: MessageQuery): Promise<UnsentSummary> {
    const filter = await this.filterFor(scope, query, { unsent: true });
    const data: UnsentSummaryData = filter
      ? await this.deps.queries.unsentSummary(filter)
      : { groups: [], oldestWaiting: null, oldestPending: null };
    const byReason = {
      waiting: 0,
      requeued: 0,
      retrying: 0,
      held: 0,
      unknown_outcome: 0,
      failed: 0,
      unconfirmed: 0,
    } satisfies Record<UnsentReason, number>;
    const byUnit = new Map<string, number>();
    const byProvider = new Map<string | null, number>();
    const byErrorClass = new Map<string | null, number>();
    let total = 0;
    const add = <K>(map: Map<K, number>, key: K, n: number) =>
      map.set(key, (map.get(key) ?? 0) + n);
    for (const g of data.groups) {
      total += g.count;
      byReason[g.reason] += g.count;
      add(byUnit, g.unitId, g.count);
      add(byProvider, g.provider, g.count);
      add(byErrorClass, g.errorClass, g.count);
    }
    const names = await this.unitNames(byUnit.keys());
    const sorted = <K>(map: Map<K, number>) => [...map].sort((a, b) => b[1] - a[1]);
    const now = this.clock();
    return {
      total,
      byReason,
      byUnit: sorted(byUnit).map(([id, count]) => ({ unit: names.get(id) ?? id, count })),
      byProvider: sorted(byProvider).map(([provider, count]) => ({ provider, count })),
      byErrorClass: sorted(byErrorClass).map(([errorClass, count]) => ({ errorClass, count })),
      oldestWaiting: data.oldestWaiting
        ? { ...data.oldestWaiting, ageMs: Math.max(0, now - data.oldestWaiting.dueSince) }
        : null,
      oldestPending: data.oldestPending
        ? { ...data.oldestPending, ageMs: Math.max(0, now - data.oldestPending.dueSince) }
        : null,
    };
  }

  // --- bulk recovery -----------------------------------------------------------------------

  private checkRequest(request: RecoveryRequest): void {
    if (isEmptyQuery(request.query)) {
      throw new OperationsError('invalid', 'the recovery is invalid; see details', [
        {
          field: 'filter',
          message:
            'must have at least one condition; {"status": "failed"} means every dead-lettered message',
        },
      ]);
    }
    const rate = request.ratePerS;
    if (
      rate !== undefined &&
      rate !== null &&
      !(Number.isInteger(rate) && rate >= 1 && rate <= MAX_RATE_PER_S)
    ) {
      throw new OperationsError('invalid', 'the recovery is invalid; see details', [
        { field: 'rate_per_s', message: `must be a whole number from 1 to ${MAX_RATE_PER_S}` },
      ]);
    }
  }

  /** What a recovery would do, changing nothing. */
  async dryRun(scope: Scope, request: RecoveryRequest): Promise<DryRunResult> {
    this.checkRequest(request);
    const filter = await this.filterFor(scope, request.query);
    const empty: Breakdown = {
      matched: 0,
      byStatus: new Map(),
      byErrorClass: new Map(),
      byUnitId: new Map(),
      inOtherRecovery: 0,
    };
    return {
      action: request.action,
      filter: queryToJson(request.query),
      breakdown: filter ? await this.deps.queries.breakdown(filter) : empty,
      sample: filter ? await this.deps.messages.list({ ...filter, limit: DRY_RUN_SAMPLE }) : [],
    };
  }

  /**
   * Starts a recovery over the messages the query matches now; the recovery and its
   * recovery.start event, at the recovery's own time, are written together or not at all.
   */
  async startRecovery(
    scope: Scope,
    actor: Actor,
    request: RecoveryRequest,
  ): Promise<RecoveryRecord> {
    this.checkRequest(request);
    const filter = await this.filterFor(scope, request.query);
    const now = this.clock();
    const unitId = filter?.unitId ?? this.scopeUnitId(scope) ?? null;
    const id = newId('rec');
    const json = queryToJson(request.query);
    const record = await this.deps.recoveries.start(
      {
        id,
        unitId,
        action: request.action,
        filter: json,
        ratePerS: request.ratePerS ?? null,
        actor,
        createdAt: now,
      },
      // A filter that can match nothing still makes a (finished, empty) recovery: the answer must
      // not tell a unit key whether another unit's name exists.
      filter ?? { unitId: '', limit: 0 },
      this.event(actor, 'recovery.start', { unitId, target: id, filter: json }, now),
    );
    this.deps.onRecoveryStarted?.();
    return record;
  }

  async getRecovery(scope: Scope, id: string): Promise<RecoveryRecord> {
    const record = await this.deps.recoveries.get(id, this.scopeUnitId(scope));
    if (!record) throw new OperationsError('not_found', `no recovery with id ${id}`);
    return record;
  }

  /**
   * A recovery and what became of the mail it requeued; `outcome` is null for a recovery that
   * keeps none (see RecoveryStore.getWithOutcome). Scoped like `getRecovery`.
   */
  async getRecoveryWithOutcome(
    scope: Scope,
    id: string,
  ): Promise<{ record: RecoveryRecord; outcome: RecoveryOutcome | null }> {
    const found = await this.deps.recoveries.getWithOutcome(id, this.scopeUnitId(scope));
    if (!found) throw new OperationsError('not_found', `no recovery with id ${id}`);
    const { record, statuses } = found;
    return { record, outcome: statuses ? recoveryOutcome(record.done, statuses) : null };
  }

  listRecoveries(
    scope: Scope,
    page: { beforeId?: string; limit: number },
  ): Promise<RecoveryRecord[]> {
    const unitId = this.scopeUnitId(scope);
    return this.deps.recoveries.list({ ...page, ...(unitId ? { unitId } : {}) });
  }

  async cancelRecovery(scope: Scope, actor: Actor, id: string): Promise<RecoveryRecord> {
    // One clock read: the event is at the cancel's own time, as the record's finished time.
    const now = this.clock();
    const result = await this.deps.recoveries.cancel(id, this.scopeUnitId(scope), now, (r) =>
      this.event(
        actor,
        'recovery.cancel',
        {
          unitId: r.unitId,
          target: r.id,
          counts: { matched: r.matched, done: r.done, skipped: r.skipped },
        },
        now,
      ),
    );
    if (result.kind === 'not_found')
      throw new OperationsError('not_found', `no recovery with id ${id}`);
    if (result.kind === 'finished') {
      throw new OperationsError(
        'conflict',
        `the recovery is ${result.record.state}; only a running one can be cancelled`,
      );
    }
    return result.record;
  }

  /**
   * Cancels a running recovery, and reads it back as `getRecoveryWithOutcome` does: what became
   * of the mail it requeued before it stopped.
   */
  async cancelRecoveryWithOutcome(
    scope: Scope,
    actor: Actor,
    id: string,
  ): Promise<{ record: RecoveryRecord; outcome: RecoveryOutcome | null }> {
    await this.cancelRecovery(scope, actor, id);
    return this.getRecoveryWithOutcome(scope, id);
  }

  // --- single messages ---------------------------------------------------------------------

  /**
   * Queues a failed message again; the change and its message.retry event, at the change's own
   * time, are written together or not at all.
   */
  async retryMessage(scope: Scope, actor: Actor, id: string): Promise<StateChange> {
    const now = this.clock();
    const change = await this.deps.messages.retry(id, now, this.scopeUnitId(scope), (unitId) =>
      this.event(actor, 'message.retry', { unitId, target: id }, now),
    );
    if (change.kind === 'changed') this.deps.onRequeued?.();
    return change;
  }

  /** Cancels a queued or scheduled message, with its message.cancel event as retryMessage. */
  async cancelMessage(scope: Scope, actor: Actor, id: string): Promise<StateChange> {
    const now = this.clock();
    return this.deps.messages.cancel(id, now, this.scopeUnitId(scope), (unitId) =>
      this.event(actor, 'message.cancel', { unitId, target: id }, now),
    );
  }

  // --- providers ---------------------------------------------------------------------------

  /**
   * Asks the workers to probe `provider` now instead of at the next interval; the request and
   * its provider.probe event are written together or not at all.
   */
  async requestProbe(
    scope: Scope,
    actor: Actor,
    provider: string,
    known: string[],
  ): Promise<number> {
    this.requireAdmin(scope, 'ask for a provider probe');
    if (!known.includes(provider))
      throw new OperationsError('not_found', `no provider named ${provider}`);
    const now = this.clock();
    await this.deps.probes.request(
      provider,
      now,
      // The request's own time: the log and the console's "Probe requested at" say one instant.
      this.event(actor, 'provider.probe', { unitId: null, target: provider }, now),
    );
    this.deps.onRequeued?.();
    return now;
  }

  /** When a probe of `provider` was last asked for (by anyone), or null. */
  probeRequestedAt(provider: string): Promise<number | null> {
    return this.deps.probes.requestedAt(provider);
  }

  // --- audit log ---------------------------------------------------------------------------

  private event(
    actor: Actor,
    action: AuditAction,
    fields: AuditFields,
    at = this.clock(),
  ): AuditEvent {
    return newAuditEvent(actor, action, fields, at);
  }

  /**
   * Records an operator action done elsewhere, after it: a test alert sent (`tegami alerts test`),
   * which changes nothing in the database. A change whose store takes its event writes both in one
   * transaction instead (units, recoveries, messages, suppressions, webhook endpoints, keys,
   * probes, console users, units' alert settings, the SendGrid event relay).
   */
  record(actor: Actor, action: AuditAction, fields: AuditFields): Promise<void> {
    return this.deps.audit.record(this.event(actor, action, fields));
  }

  /** The audit log, newest first; `actor` in words as the log names actors (readActorFilter). */
  listAudit(scope: Scope, query: AuditQuery): Promise<AuditEvent[]> {
    return this.auditIn(scope, query);
  }

  /**
   * What these events' targets and units are called (audit-words.ts): the keys' names and units,
   * the console users' e-mails, the units' names. Only to show: the events keep their ids.
   */
  async auditNames(events: readonly AuditEvent[]): Promise<AuditNames> {
    const ids = { keys: [] as string[], users: [] as string[] };
    const unitIds = new Set<string>();
    for (const e of events) {
      if (e.unitId !== null) unitIds.add(e.unitId);
      if (e.target === null) continue;
      const kind = auditTargetKind(e.action);
      if (kind === 'key') ids.keys.push(e.target);
      else if (kind === 'user') ids.users.push(e.target);
      else if (kind === 'unit') unitIds.add(e.target);
    }
    const { keys, users } = await this.deps.audit.namesOf(ids);
    for (const key of keys.values()) unitIds.add(key.unitId);
    return { keys, users, units: await this.unitNames(unitIds) };
  }

  private async auditIn(
    scope: Scope,
    { unit, actor, ...filter }: AuditQuery,
  ): Promise<AuditEvent[]> {
    const unitId = await this.unitIdFor(scope, unit);
    if (unitId === NOTHING) return [];
    return this.deps.audit.list({
      ...filter,
      ...(unitId !== undefined ? { unitId } : {}),
      ...(actor !== undefined ? { actor: readActorFilter(actor) } : {}),
    });
  }
}
