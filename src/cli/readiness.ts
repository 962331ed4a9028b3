import type { DatabaseHandle } from '../store/index.ts';
import { pendingMigrations } from '../store/index.ts';

export interface Readiness {
  ready: boolean;
  reason?: string;
}

/**
 * How long `/readyz` waits for the database. A server that stopped answering (SIGSTOPped, a
 * held table lock, a network that drops packets) kept the probe waiting as long as it did (30 s
 * in a drill); a load balancer then saw a timeout, not a reason, and its probes piled up.
 */
export const READINESS_TIMEOUT_MS = 2_000;

/**
 * `/readyz`'s question to the database: does it answer, with every migration applied, and does
 * it take writes? At most one check runs at a time: probes that arrive meanwhile share its answer,
 * so a hung database holds one pool connection, not one per probe.
 */
export function databaseReadiness(
  database: DatabaseHandle,
  timeoutMs = READINESS_TIMEOUT_MS,
): () => Promise<Readiness> {
  let running: Promise<Readiness> | null = null;
  const check = async (): Promise<Readiness> => {
    try {
      const pending = await pendingMigrations(database.db);
      if (pending.length > 0) {
        return { ready: false, reason: `migrations not applied: ${pending.join(', ')}` };
      }
      // After a failover the address may still lead to the old primary, now a standby: reads
      // work, every write fails; a load balancer should send requests elsewhere.
      if (await database.readOnly?.()) {
        return {
          ready: false,
          reason:
            'the database is read-only (a standby, or read-only during a failover): point TEGAMI_DATABASE_URL at the primary',
        };
      }
      return { ready: true };
    } catch (error) {
      return { ready: false, reason: `database unreachable: ${(error as Error).message}` };
    }
  };
  return async () => {
    const lost = database.durabilityLost?.();
    if (lost) {
      return {
        ready: false,
        reason: `writes fail since a write to disk failed (${lost.message}): fix the disk, then restart this process`,
      };
    }
    if (!running) {
      running = check().finally(() => {
        running = null;
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Readiness>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ready: false,
            reason: `the database did not answer within ${timeoutMs / 1000} s`,
          }),
        timeoutMs,
      );
      timer.unref();
    });
    try {
      return await Promise.race([running, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
