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
  /**
   * A check still waiting after this long is left to settle on its own and a new one starts:
   * its connection may be dead (packets dropped, no socket timeout) while new ones work. At most
   * one check is left so at a time, so a hung database holds two connections, not one per probe.
   */
  abandonAfterMs = 15 * timeoutMs,
): () => Promise<Readiness> {
  let running: { answer: Promise<Readiness>; startedAt: number } | null = null;
  let abandoned: Promise<Readiness> | null = null;
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
    const gone = database.fileGone?.();
    if (gone) return { ready: false, reason: gone };
    const lost = database.durabilityLost?.();
    if (lost) {
      return {
        ready: false,
        reason: `writes fail since a write to disk failed (${lost.message}): fix the disk, then restart this process`,
      };
    }
    if (running && !abandoned && performance.now() - running.startedAt > abandonAfterMs) {
      const old = running.answer;
      abandoned = old;
      running = null;
      // check() never rejects: it answers not ready instead.
      void old.then(() => {
        if (abandoned === old) abandoned = null;
      });
    }
    if (!running) {
      const mine = { answer: check(), startedAt: performance.now() };
      running = mine;
      void mine.answer.then(() => {
        if (running === mine) running = null;
      });
    }
    const { answer } = running;
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
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
