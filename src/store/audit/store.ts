import type { AuditFilter, AuditNames } from '../../domain/operations/audit.ts';
import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { AuditLog } from '../../domain/operations/ports.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { insertAuditEvent } from './insert.ts';
import { listAuditEvents } from './list.ts';
import { auditNamesOf } from './names-of.ts';
import { pruneAuditEvents } from './prune.ts';

/** The audit log. */
export class SqlAuditStore implements AuditLog {
  constructor(private readonly handle: DatabaseHandle) {}

  async record(event: AuditEvent): Promise<void> {
    await this.handle.writeTransaction((trx) => insertAuditEvent(trx, event));
  }

  list(filter: AuditFilter): Promise<AuditEvent[]> {
    return listAuditEvents(this.handle, filter);
  }

  prune(before: number, limit: number): Promise<number> {
    return pruneAuditEvents(this.handle, before, limit);
  }

  namesOf(ids: { keys: string[]; users: string[] }): Promise<Pick<AuditNames, 'keys' | 'users'>> {
    return auditNamesOf(this.handle, ids);
  }
}
