import { type Spawned, spawnTegami } from '../helpers.ts';

/**
 * Several real `tegami` processes for one test (a simulator, API processes, workers), stopped
 * together: `stopAll()` sends SIGTERM and collects every exit code; `killAll()` is the cleanup
 * for a test that failed half-way.
 */

export interface ClusterProcess extends Spawned {
  name: string;
  pid: number;
  /** Whether the process is still running (has not exited). */
  alive(): boolean;
}

/** How long a process may take to stop after SIGTERM before the test calls it hung. */
const STOP_TIMEOUT_MS = 20_000;

export class ProcessGroup {
  readonly processes: ClusterProcess[] = [];

  /** Starts `tegami <args>` and waits until it says it runs; rejects with its output if not. */
  async start(name: string, args: string[], env: Record<string, string>): Promise<ClusterProcess> {
    const spawned = spawnTegami(args, env);
    const child = spawned.child;
    const member: ClusterProcess = {
      ...spawned,
      name,
      pid: child.pid ?? -1,
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    this.processes.push(member);
    await withTimeout(spawned.ready, 60_000, `${name} to start`, spawned.output);
    return member;
  }

  /** Processes that have exited, with their codes (for "nobody crashed" checks). */
  exited(): { name: string; code: number | null; signal: string | null }[] {
    return this.processes
      .filter((p) => !p.alive())
      .map((p) => ({ name: p.name, code: p.child.exitCode, signal: p.child.signalCode }));
  }

  /** Throws, with their output, if any process has exited: a check for polling loops. */
  assertRunning(): void {
    const exited = this.exited();
    if (exited.length === 0) return;
    const names = exited.map((e) => `${e.name} (${e.signal ?? `exit code ${e.code}`})`);
    throw new Error(`exited while the test ran: ${names.join(', ')}\n${this.outputs(40)}`);
  }

  /**
   * SIGTERM to every process still running (those in `last` after all others have exited), then
   * each one's exit code; a process still running after STOP_TIMEOUT_MS is killed and reported
   * as `hung`.
   */
  async stopAll(last: ClusterProcess[] = []): Promise<Map<string, number | null | 'hung'>> {
    const codes = new Map<string, number | null | 'hung'>();
    const stop = async (group: ClusterProcess[]) => {
      await Promise.all(
        group.map(async (p) => {
          if (p.alive()) p.child.kill('SIGTERM');
          let timer: NodeJS.Timeout | undefined;
          const hung = new Promise<'hung'>((resolve) => {
            timer = setTimeout(() => resolve('hung'), STOP_TIMEOUT_MS);
          });
          const code = await Promise.race([p.exited, hung]);
          clearTimeout(timer);
          if (code === 'hung') p.child.kill('SIGKILL');
          codes.set(p.name, code);
        }),
      );
    };
    await stop(this.processes.filter((p) => !last.includes(p)));
    await stop(last);
    return codes;
  }

  /** Cleanup after a failure: SIGKILL whatever still runs. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.processes.map(async (p) => {
        if (!p.alive()) return;
        p.child.kill('SIGKILL');
        await p.exited;
      }),
    );
  }

  /** The last lines each process printed (of those `keep` keeps), for assertion messages. */
  outputs(lines = 15, keep: (line: string) => boolean = () => true): string {
    return this.processes
      .map((p) => {
        const tail = p.output().trimEnd().split('\n').filter(keep).slice(-lines).join('\n');
        return `--- ${p.name} (pid ${p.pid}) ---\n${tail}`;
      })
      .join('\n');
  }
}

export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  output?: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${output?.() ?? ''}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------------------------------------
// The SendGrid simulator's control API

export interface SimulatorStats {
  requests: number;
  by_status: Record<string, number>;
  accepted: number;
  duplicates: number;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export function simulatorStats(simulatorUrl: string): Promise<SimulatorStats> {
  return getJson(`${simulatorUrl}/_simulator/stats`);
}

interface StoredSend {
  body: { personalizations?: { custom_args?: Record<string, string> }[] };
}

/**
 * How often the simulator accepted each Tegami message id: every accepted send it keeps, paged
 * through 1,000 at a time. Throws if it kept fewer than it accepted (raise --max-messages).
 */
export async function simulatorAcceptedIds(simulatorUrl: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const PAGE = 1000;
  for (let offset = 0; ; offset += PAGE) {
    const page = await getJson<{ total: number; kept: number; messages: StoredSend[] }>(
      `${simulatorUrl}/_simulator/messages?limit=${PAGE}&offset=${offset}`,
    );
    if (page.kept < page.total) {
      throw new Error(
        `the simulator kept ${page.kept} of ${page.total} sends; raise --max-messages`,
      );
    }
    for (const send of page.messages) {
      const id = send.body.personalizations?.[0]?.custom_args?.tegami_message_id ?? '(no id)';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    if (page.messages.length < PAGE) return counts;
  }
}
