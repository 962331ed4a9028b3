import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { DeliveryStore } from '../domain/ports.ts';

/**
 * Frees the leases of workers on this host whose process is gone (killed, crashed), so their
 * messages go out again at once instead of after the lease expires. Leases held by workers on
 * other hosts are left to expire: we cannot see their processes. Lease owners are
 * `host/pid/random` (see `newLeaseOwner`).
 */
export async function releaseDeadLocalLeases(
  store: DeliveryStore,
  ownLeaseOwner: string,
  logger: Logger,
  now = Date.now(),
): Promise<number> {
  const host = hostname();
  let released = 0;
  for (const owner of await store.activeLeaseOwners(now)) {
    if (owner === ownLeaseOwner) continue;
    const [ownerHost, pidText] = owner.split('/');
    const pid = Number(pidText);
    if (ownerHost !== host || !Number.isInteger(pid) || isAlive(pid)) continue;
    const count = await store.releaseLeases(owner, now);
    released += count;
    logger.warn({ leaseOwner: owner, messages: count }, 'released leases of a dead worker');
  }
  return released;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
