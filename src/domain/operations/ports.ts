import type { UnitAlertSettings } from '../ports/alert-store.ts';
import type { MessageFilter } from '../ports/message-store.ts';
import type { MessageStatus } from '../types.ts';
import type { AuditFilter, AuditNames } from './audit.ts';
import type { AuditEvent } from './audit-event.ts';
import type { RecoveryAction, RecoveryRecord } from './recovery.ts';
import type { Unit } from './units.ts';
import type { UnsentReason } from './unsent.ts';

/** What the operations service needs from storage; the adapters are in src/store/. */

/** A page of units by name: `limit` of them, those after the unit `afterId` (the last shown). */
export interface UnitPage {
  limit: number;
  afterId?: string;
}

export interface UnitDirectory {
  /** Units by name: every one, or a page (`limit` of them, after the unit `afterId`). */
  list(page?: UnitPage): Promise<Unit[]>;
  findByName(name: string): Promise<Unit | null>;
  findById(id: string): Promise<Unit | null>;
  /** The unit named just before `name` in `list`'s order; null for a name before every unit. */
  namedBefore(name: string): Promise<Unit | null>;
  namesOf(ids: Iterable<string>): Promise<Map<string, string>>;
  /** Creates the unit and records `audit` with it; false when the name is taken. */
  create(unit: Unit, audit: AuditEvent): Promise<boolean>;
  /**
   * The settings (`PUT /v1/units/{id}`) of those of these units that set any, in one query; a
   * unit that never set any has none here.
   */
  settingsOf(unitIds: readonly string[]): Promise<UnitAlertSettings[]>;
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
  /** Newest first. */
  list(filter: AuditFilter): Promise<AuditEvent[]>;
  /** Deletes up to `limit` events older than `before`; returns how many. */
  prune(before: number, limit: number): Promise<number>;
  /**
   * The keys and console users with these ids, as events about them name them (ids of neither
   * are left out): keys and users are never deleted, so every one of them is found.
   */
  namesOf(ids: { keys: string[]; users: string[] }): Promise<Pick<AuditNames, 'keys' | 'users'>>;
}

/** Counts of the messages a filter matches, for a dry run. */
export interface Breakdown {
  matched: number;
  byStatus: Map<string, number>;
  /** Null key: no attempt yet, or no error. */
  byErrorClass: Map<string | null, number>;
  byUnitId: Map<string, number>;
  /** Of the matched, how many wait in another running recovery. */
  inOtherRecovery: number;
}

export interface UnsentGroup {
  reason: UnsentReason;
  unitId: string;
  provider: string | null;
  errorClass: string | null;
  count: number;
}

export interface UnsentSummaryData {
  groups: UnsentGroup[];
  /** The longest-waiting message with reason `waiting`: since when it has been due. */
  oldestWaiting: { id: string; dueSince: number } | null;
  /**
   * The longest-waiting message not yet taken by a provider, whatever holds it (`waiting`,
   * `held`, `retrying`, `unknown_outcome`): since when it has been due (its `send_at`, or its
   * creation), as the `delivery_delay` alert counts. In an outage this is held mail, which
   * `oldestWaiting` (never tried) leaves out.
   */
  oldestPending: { id: string; reason: UnsentReason; dueSince: number } | null;
}

export interface OperationsQueries {
  breakdown(filter: MessageFilter): Promise<Breakdown>;
  unsentSummary(filter: MessageFilter): Promise<UnsentSummaryData>;
}

export interface NewRecovery {
  id: string;
  unitId: string | null;
  action: RecoveryAction;
  filter: Record<string, unknown>;
  ratePerS: number | null;
  actor: RecoveryRecord['actor'];
  createdAt: number;
}

export interface RecoveryStore {
  /**
   * Stores the recovery and its set (the ids of every message `filter` matches now), and
   * records `audit` with the counts, in one transaction.
   */
  start(recovery: NewRecovery, filter: MessageFilter, audit: AuditEvent): Promise<RecoveryRecord>;
  /** With `unitId`, a recovery of another unit (or of every unit) is not found. */
  get(id: string, unitId?: string): Promise<RecoveryRecord | null>;
  /**
   * `get`, with how many of the messages the recovery was the last to requeue are in each status
   * now, read together (one snapshot, so they add up with its `done`). `statuses` is null for a
   * recovery that marks no messages: a cancel, or one started before outcomes were kept.
   */
  getWithOutcome(
    id: string,
    unitId?: string,
  ): Promise<{ record: RecoveryRecord; statuses: Map<MessageStatus, number> | null } | null>;
  /** Newest first. */
  list(options: { unitId?: string; beforeId?: string; limit: number }): Promise<RecoveryRecord[]>;
  /**
   * Stops a running recovery between chunks: its remaining messages are skipped
   * (`recovery_cancelled`). Records `audit` with the counts.
   */
  cancel(
    id: string,
    unitId: string | undefined,
    now: number,
    audit: (record: RecoveryRecord) => AuditEvent,
  ): Promise<
    | { kind: 'cancelled'; record: RecoveryRecord }
    | { kind: 'not_found' }
    | { kind: 'finished'; record: RecoveryRecord }
  >;
}

/** What the process working through recoveries needs: leases per recovery, and chunks. */
export interface RecoveryWork {
  get(id: string): Promise<RecoveryRecord | null>;
  /** Running recoveries, with who holds each (null: nobody) and until when. */
  running(): Promise<{ id: string; leaseOwner: string | null; leaseExpiresAt: number }[]>;
  /** Takes the recovery's lease when free, expired or held by `deadOwner`. */
  acquire(
    id: string,
    owner: string,
    now: number,
    ttlMs: number,
    deadOwner: string | null,
  ): Promise<boolean>;
  release(id: string, owner: string): Promise<void>;
  /** Ends a running recovery as `failed`, with why. */
  fail(id: string, error: string, now: number): Promise<void>;
  /** Acts on the next `size` messages of the set, while `owner` holds the lease. */
  runChunk(
    id: string,
    owner: string,
    now: number,
    size: number,
    ttlMs: number,
  ): Promise<
    | { kind: 'progress'; acted: number; record: RecoveryRecord }
    | { kind: 'finished'; record: RecoveryRecord }
    | { kind: 'lost' }
  >;
}

export interface ProbeRequests {
  /**
   * Asks the workers of `provider` to probe it at once if its circuit is open, and records
   * `audit` with the request: both are written, or neither.
   */
  request(provider: string, now: number, audit: AuditEvent): Promise<void>;
  /** When a probe of `provider` was last asked for, or null. */
  requestedAt(provider: string): Promise<number | null>;
}
