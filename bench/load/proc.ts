/**
 * CPU time and peak memory of processes, from /proc (Linux only): what `npm run bench load`
 * reports per process.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** A process and its live descendants (PostgreSQL's backends are child processes). */
function liveTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (!fields) continue;
    const parent = Number(fields[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const tree: number[] = [];
  const visit = (pid: number) => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return tree;
}

/**
 * CPU milliseconds (user + system) of a process and of every live descendant, plus what its
 * exited children used (cutime + cstime).
 */
export function treeCpuMs(root: number): number {
  let ticks = 0;
  for (const pid of liveTree(root)) {
    const fields = statFields(pid);
    if (!fields) continue;
    // utime, stime, cutime, cstime are fields 14–17; here indexes 11–14.
    ticks += Number(fields[11]) + Number(fields[12]);
    if (pid === root) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return ticks * TICK_MS;
}

/**
 * Bytes a process (and, with `tree`, its live descendants) caused to be written to storage:
 * `write_bytes` of /proc/<pid>/io, counted when pages are dirtied, so SQLite's WAL writes and
 * checkpoints (or PostgreSQL's WAL and data files) but not socket writes.
 */
export function storageWriteBytes(root: number, tree: boolean): number {
  let bytes = 0;
  for (const pid of tree ? liveTree(root) : [root]) {
    try {
      const match = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
      bytes += match ? Number(match[1]) : 0;
    } catch {
      // The process ended meanwhile.
    }
  }
  return bytes;
}

/** CPU milliseconds (user + system) of one process, all its threads. */
export function cpuMs(pid: number): number {
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) * TICK_MS : 0;
}

/** A memory line of /proc/<pid>/status (VmHWM: peak resident, VmRSS: resident now) in MiB. */
function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Peak resident memory (VmHWM) in MiB. */
export const peakRssMiB = (pid: number) => statusMiB(pid, 'VmHWM');

/** Resident memory now (VmRSS) in MiB. */
export const residentMiB = (pid: number) => statusMiB(pid, 'VmRSS');

/** The PostgreSQL postmaster listening on `port` (found by its command line). */
export function postmasterPid(port: number): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const p = args.indexOf('-p');
    if (args[0]?.endsWith('/postgres') && p >= 0 && args[p + 1] === String(port)) {
      return Number(entry);
    }
  }
  return null;
}

/**
 * A process's main thread: nanoseconds on a CPU and waiting for one (runnable, not running), from
 * /proc/<pid>/task/<pid>/schedstat. What is neither was spent idle or blocked in a system call.
 */
export function mainThreadSchedNs(pid: number): { onCpu: number; waiting: number } {
  try {
    const [onCpu, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
      .trim()
      .split(' ')
      .map(Number);
    return { onCpu: onCpu ?? 0, waiting: waiting ?? 0 };
  } catch {
    return { onCpu: 0, waiting: 0 };
  }
}
