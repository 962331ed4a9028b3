import type { AuditEvent } from '../../domain/operations/audit-event.ts';
import type { ProbeRequests } from '../../domain/operations/ports.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { requestProbe } from './request.ts';
import { probeRequestedAt } from './requested-at.ts';

/**
 * Probe requests (`POST /v1/providers/{name}/probe`): the time an operator last asked for one,
 * per provider. Workers in any process read it while their circuit is open.
 */
export class SqlProbeRequests implements ProbeRequests {
  constructor(private readonly handle: DatabaseHandle) {}

  request(provider: string, now: number, audit: AuditEvent): Promise<void> {
    return requestProbe(this.handle, provider, now, audit);
  }

  /** When a probe of `provider` was last asked for, or null. */
  requestedAt(provider: string): Promise<number | null> {
    return probeRequestedAt(this.handle, provider);
  }
}
