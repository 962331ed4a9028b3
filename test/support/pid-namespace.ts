import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * `tegami` started in a PID namespace of its own, with the same hostname, network and files as
 * the test: a stand-in for a container with host networking, or a replica given the same
 * `hostname:`. Such a process must never take over a lease of a live process outside it.
 */

const BIN = new URL('../../bin/tegami.js', import.meta.url).pathname;

/** Whether this machine lets us make a PID namespace (Linux, root or a user namespace). */
export function canUnsharePid(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = spawnSync('unshare', ['--pid', '--fork', '--kill-child', '--', 'true'], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return probe.status === 0;
}

/** The host pids of `parent`'s children (the tegami process under `unshare --fork`). */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // stat: "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/**
 * `tegami <args>` as PID 1 of a new PID namespace. `ready` resolves once it says it runs: with
 * its URL for a process serving the API, with '' for a worker. `unshare` does not pass signals
 * on, so `stop()` signals the tegami process itself.
 */
export function spawnInNewPidNamespace(args: string[], env: Record<string, string>) {
  const child = spawn('unshare', ['--pid', '--kill-child', '--', process.execPath, BIN, ...args], {
    env: { ...process.env, TEGAMI_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const listening = /listening on (http:\/\/\S+)/.exec(out);
      if (listening?.[1]) resolve(listening[1]);
      else if (out.includes('worker running')) resolve('');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`unshare tegami exited (${code}):\n${out}`)));
  });
  ready.catch(() => {});
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    ready,
    exited,
    output: () => out,
    async stop(): Promise<number | null> {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      for (const pid of childrenOf(child.pid ?? -1)) process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
