import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { NewRecovery, RecoveryStore, RecoveryWork } from '../../domain/operations/ports.ts';
import type { RecoveryRecord } from '../../domain/operations/recovery.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { cancelRecovery } from './cancel.ts';
import { failRecovery } from './fail.ts';
import { getRecovery } from './get.ts';
import { acquireRecovery, releaseRecovery } from './leases.ts';
import { listRecoveries } from './list.ts';
import { getRecoveryWithOutcome } from './outcome.ts';
import { pruneFinishedSets } from './prune-finished-sets.ts';
import { runChunk } from './run-chunk.ts';
import { runningRecoveries } from './running.ts';
import { startRecovery } from './start.ts';

/** Recoveries and their fixed sets of messages (see domain/operations/recovery.ts). */
export class SqlRecoveryStore implements RecoveryStore, RecoveryWork {
  constructor(private readonly handle: DatabaseHandle) {}

  start(recovery: NewRecovery, filter: MessageFilter, audit: AuditEvent): Promise<RecoveryRecord> {
    return startRecovery(this.handle, recovery, filter, audit);
  }

  get(id: string, unitId?: string): Promise<RecoveryRecord | null> {
    return getRecovery(this.handle, id, unitId);
  }

  getWithOutcome(id: string, unitId?: string) {
    return getRecoveryWithOutcome(this.handle, id, unitId);
  }

  list(options: { unitId?: string; beforeId?: string; limit: number }): Promise<RecoveryRecord[]> {
    return listRecoveries(this.handle, options);
  }

  cancel(
    id: string,
    unitId: string | undefined,
    now: number,
    audit: (record: RecoveryRecord) => AuditEvent,
  ) {
    return cancelRecovery(this.handle, id, unitId, now, audit);
  }

  // --- for the runner (src/ops/recovery-runner.ts) --------------------------------------------

  running() {
    return runningRecoveries(this.handle);
  }

  acquire(
    id: string,
    owner: string,
    now: number,
    ttlMs: number,
    deadOwner: string | null,
  ): Promise<boolean> {
    return acquireRecovery(this.handle, id, owner, now, ttlMs, deadOwner);
  }

  release(id: string, owner: string): Promise<void> {
    return releaseRecovery(this.handle, id, owner);
  }

  runChunk(id: string, owner: string, now: number, size: number, ttlMs: number) {
    return runChunk(this.handle, id, owner, now, size, ttlMs);
  }

  /** Deletes up to `limit` set entries of recoveries that finished before `before`. */
  pruneFinishedSets(before: number, limit: number): Promise<number> {
    return pruneFinishedSets(this.handle, before, limit);
  }

  fail(id: string, error: string, now: number): Promise<void> {
    return failRecovery(this.handle, id, error, now);
  }
}
