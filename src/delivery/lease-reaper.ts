import type { Logger } from 'pino';
import type { DeliveryStore } from '../domain/ports/delivery-store.ts';
import { processLeaseOwners } from './lease-owner.ts';

/**
 * Frees the leases of workers whose process is provably gone (killed, crashed), so their
 * messages go out again instead of after the lease expires. Each may have reached the provider
 * before the process died: like a send that timed out, it waits `proofWaitMs` for a delivery
 * event before it is sent again, and is `sent` at once if one came already (the store's
 * `releaseLeases`).
 *
 * A pid means something only inside the PID namespace it was handed out in, and only until the
 * machine reboots. Two workers with the same hostname need not share one: containers with host
 * networking, replicas given the same `hostname:`, or two machines called the same. So a lease
 * owner names its *process table* (see lease-owner.ts), and a worker looks up the pid only of
 * owners from its own process table. Every other lease is left to expire: freeing the lease of a
 * worker that is still sending would send its mail a second time.
 */
export async function releaseDeadLocalLeases(
  store: DeliveryStore,
  ownLeaseOwner: string,
  lost: { provider: string; proofWaitMs: number },
  logger: Logger,
  now = Date.now(),
): Promise<number> {
  let released = 0;
  for (const owner of await store.activeLeaseOwners(now)) {
    if (owner === ownLeaseOwner || !processLeaseOwners.isProvablyDead(owner)) continue;
    const { released: count, confirmed } = await store.releaseLeases(owner, now, lost);
    released += count;
    logger.warn(
      { leaseOwner: owner, messages: count, alreadyDelivered: confirmed },
      'released leases of a dead worker',
    );
  }
  return released;
}

/**
 * Frees the messages whose lease ran out while they were being sent: their worker stopped
 * without a result, on this host or another, or stopped for longer than a lease. Claims leave
 * them to this, so they get the same `unknown` attempt and wait for proof as a known dead
 * worker's (releaseDeadLocalLeases), instead of being sent again at once.
 *
 * Except `held`, the messages this process's own worker still has: their leases run out while
 * the database takes no writes (a full disk, an outage longer than a lease), and the worker,
 * alive, writes their results once it does. Released, they were sent again (a drill: a disk full
 * for 75 s sent all 128 messages in flight twice).
 */
export async function releaseExpiredLeases(
  store: DeliveryStore,
  lost: { provider: string; proofWaitMs: number },
  logger: Logger,
  held: readonly string[] = [],
  now = Date.now(),
): Promise<number> {
  const { released, confirmed } = await store.releaseExpiredLeases(now, lost, held);
  if (released > 0) {
    logger.warn(
      { messages: released, alreadyDelivered: confirmed },
      'released messages whose lease ran out before their worker recorded a result',
    );
  }
  return released;
}
