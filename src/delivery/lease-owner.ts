import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { LeaseOwners } from '../domain/ports/lease-owners.ts';

/**
 * Who holds a lease: `host/pt-<process table>/pid/random`. Written into a message when a worker
 * claims it, and into a recovery when a recovery runner takes it; read back by the lease reaper
 * (lease-reaper.ts) and the recovery runner (ops/recovery-runner.ts, given `processLeaseOwners`
 * by the wiring), which take over early only the leases of owners that are provably gone.
 */

/** Written instead of a process-table id where none can be read: such pids are never checked. */
export const UNKNOWN_PROCESS_TABLE = 'unknown';

const TABLE_PREFIX = 'pt-';

let cachedTableId: string | undefined;

/**
 * Names the process table this process's pid belongs to: a hash of the kernel's boot id (new on
 * every boot, different on every machine) and the identity (device and inode) of this process's
 * PID namespace. Two processes with the same id see the same pids; a pid missing from our table
 * then really is a process that has exited. Where these cannot be read (not Linux, /proc not
 * mounted), `unknown`: such owners are never judged dead by pid.
 */
export function processTableId(): string {
  cachedTableId ??= readProcessTableId();
  return cachedTableId;
}

function readProcessTableId(): string {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // The namespace the process itself is in (not `pid_for_children`): the one getpid() answers in.
    const namespace = statSync('/proc/self/ns/pid');
    if (!bootId || !namespace.ino) return UNKNOWN_PROCESS_TABLE;
    return createHash('sha256')
      .update(`${bootId}\n${namespace.dev}:${namespace.ino}`)
      .digest('hex')
      .slice(0, 16);
  } catch {
    return UNKNOWN_PROCESS_TABLE;
  }
}

/**
 * `host/pt-<process table>/pid/random`. The host is for people reading it; the process table
 * decides whether the pid may be checked; the random part tells apart workers in one process.
 */
export function formatLeaseOwner(
  pid = process.pid,
  table = processTableId(),
  host = hostname(),
): string {
  return `${host}/${TABLE_PREFIX}${table}/${pid}/${Math.random().toString(36).slice(2, 10)}`;
}

interface ParsedLeaseOwner {
  /** `unknown` for owners written before process tables were recorded (`host/pid/random`). */
  processTable: string;
  pid: number | null;
}

/** Reads an owner from the right, so a host name with odd characters cannot shift the fields. */
export function parseLeaseOwner(owner: string): ParsedLeaseOwner {
  const parts = owner.split('/');
  const table = parts.at(-3) ?? '';
  const pidText = parts.at(-2) ?? '';
  const pid = /^[1-9]\d{0,9}$/.test(pidText) ? Number(pidText) : null;
  if (parts.length < 4 || !table.startsWith(TABLE_PREFIX)) {
    return { processTable: UNKNOWN_PROCESS_TABLE, pid };
  }
  return { processTable: table.slice(TABLE_PREFIX.length) || UNKNOWN_PROCESS_TABLE, pid };
}

/**
 * Whether `owner`'s process has certainly exited: it shares our process table (known, not
 * `unknown`) and its pid is not there. Everything else (another table, an old-format owner, an
 * unreadable pid, a pid that exists, even if reused by another process) counts as alive.
 */
export function isProvablyDead(
  owner: string,
  ownTable: string,
  alive: (pid: number) => boolean,
): boolean {
  if (ownTable === UNKNOWN_PROCESS_TABLE) return false;
  const { processTable, pid } = parseLeaseOwner(owner);
  if (processTable !== ownTable || pid === null) return false;
  return !alive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else. Only ESRCH proves it is gone.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Owners named, and judged, by this process: its process table, its pid. */
export const processLeaseOwners: LeaseOwners = {
  newOwner: () => formatLeaseOwner(),
  isProvablyDead: (owner) => isProvablyDead(owner, processTableId(), isAlive),
};
