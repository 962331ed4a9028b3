/**
 * Where a process's CPU time went while the counted messages of `npm run bench load profile`
 * were handled: self time per function of a V8 `.cpuprofile`, only the samples inside the
 * measured window, grouped by what the code is (HTTP/Fastify, JSON/validation, SQLite, …).
 * Native functions (no script URL, e.g. better-sqlite3's `run`) count for the nearest caller that
 * has one.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The package a script belongs to (`fastify`, `@fastify/ajv-compiler`), or null. */
function packageOf(url: string): string | null {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  return match?.[1] ?? null;
}

const GROUPS: [string, (url: string, pkg: string | null) => boolean][] = [
  ['tsx loader', (_u, p) => p === 'tsx' || p === 'esbuild' || p === 'get-tsconfig'],
  [
    'logging (pino)',
    (_u, p) =>
      p === 'pino' || p === 'sonic-boom' || p === 'thread-stream' || p === 'pino-std-serializers',
  ],
  [
    'JSON / validation',
    (url, p) =>
      p === 'ajv' ||
      p === 'ajv-formats' ||
      p === '@sinclair/typebox' ||
      p === 'fast-json-stringify' ||
      p === 'fast-uri' ||
      p === 'secure-json-parse' ||
      p === '@fastify/ajv-compiler' ||
      p === '@fastify/fast-json-stringify-compiler' ||
      url.includes('/src/domain/validate'),
  ],
  [
    'HTTP: Fastify',
    (_u, p) =>
      p === 'fastify' ||
      p === 'find-my-way' ||
      p === 'avvio' ||
      p === 'light-my-request' ||
      p === 'fast-querystring' ||
      p === 'toad-cache' ||
      p === 'process-warning' ||
      p === 'rfdc' ||
      (p?.startsWith('@fastify/') ?? false),
  ],
  [
    'HTTP: Node (http, net, streams)',
    (url) =>
      /^node:(_http|http|net|stream|internal\/(http|streams|stream_base_commons|net|child_process))/.test(
        url,
      ),
  ],
  [
    'SQLite (better-sqlite3, Kysely)',
    (url, p) => p === 'better-sqlite3' || p === 'kysely' || url.includes('/src/store/'),
  ],
  ['PostgreSQL client (pg)', (_u, p) => p?.startsWith('pg') ?? false],
  ['provider call (undici)', (url, p) => p === 'undici' || url.includes('/src/providers/')],
  ['metrics (prom-client)', (_u, p) => p === 'prom-client' || p === 'tdigest' || p === 'bintrees'],
  ['our code: delivery', (url) => url.includes('/src/delivery/')],
  ['our code: HTTP handlers', (url) => url.includes('/src/http/')],
  ['our code: other', (url) => url.includes('/src/')],
  ['other libraries', (_u, p) => p !== null],
  ['Node core: other (timers, promises, events)', (url) => url.startsWith('node:')],
];

function groupOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)') return 'V8 / native, unattributed';
  if (name === '(idle)') return 'idle';
  const pkg = packageOf(url);
  for (const [group, test] of GROUPS) if (test(url, pkg)) return group;
  return 'other';
}

export function summariseProfile(
  path: string,
  window: { startUs: bigint; endUs: bigint },
  messages: number,
  mainThread: { onCpuUs: number; waitingUs: number },
): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The frame a sample counts for: itself, or its nearest caller with a script URL. */
  const attributed = (id: number): ProfileNode => {
    let node = byId.get(id) as ProfileNode;
    const own = node;
    if (own.callFrame.functionName.startsWith('(')) return own;
    while (node.callFrame.url === '') {
      const up = parent.get(node.id);
      if (up === undefined) return own;
      node = byId.get(up) as ProfileNode;
      if (node.callFrame.functionName === '(root)') return own;
    }
    return node;
  };

  const start = Number(window.startUs);
  const end = Number(window.endUs);
  const groups = new Map<string, number>();
  const functions = new Map<string, { us: number; group: string }>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < start || t > end) continue;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const own = byId.get(profile.samples[i] as number) as ProfileNode;
    const frame = attributed(own.id);
    const group = groupOf(frame.callFrame.url, frame.callFrame.functionName);
    if (group === 'idle') continue;
    total += us;
    groups.set(group, (groups.get(group) ?? 0) + us);
    const file = frame.callFrame.url
      .replace(/^.*\/node_modules\//, '')
      .replace(/^.*\/src\//, 'src/');
    const name = `${own.callFrame.functionName || '(anonymous)'}${own === frame ? '' : ` ← ${frame.callFrame.functionName || '(anonymous)'}`} ${file}${frame.callFrame.lineNumber > 0 ? `:${frame.callFrame.lineNumber + 1}` : ''}`;
    const f = functions.get(name) ?? { us: 0, group };
    f.us += us;
    functions.set(name, f);
  }
  // The profiler samples wall time while JavaScript (or a native call from it) runs, so its
  // busy time also holds the time the thread waited for a CPU (a busy machine) and the time it
  // was blocked in a system call: better-sqlite3 commits, fsync included, on the main thread.
  // The scheduler's counts split the two off; the blocked time is counted against SQLite.
  const sqliteGroup = 'SQLite (better-sqlite3, Kysely)';
  const runnable = mainThread.onCpuUs + mainThread.waitingUs;
  const blocked = Math.max(0, total - runnable);
  const onCpuShare = runnable > 0 ? mainThread.onCpuUs / runnable : 1;
  const onCpu = (group: string, us: number) =>
    Math.max(0, us - (group === sqliteGroup ? blocked : 0)) * onCpuShare;
  const perMessage = (us: number) => (us / messages).toFixed(1);
  const lines = [
    `Main thread of the profiled process while ${messages.toLocaleString('en')} messages were handled, per message: busy in the profile ${perMessage(total)} µs = on a CPU ${perMessage(mainThread.onCpuUs)} µs + waiting for a CPU ${perMessage(mainThread.waitingUs)} µs + blocked in system calls (SQLite's fsync) ${perMessage(blocked)} µs\n`,
    '| group | on-CPU µs per message (estimate) | share of on-CPU time | busy µs per message in the profile |',
    '|---|---|---|---|',
    ...[...groups.entries()]
      .sort((a, b) => onCpu(b[0], b[1]) - onCpu(a[0], a[1]))
      .map(
        ([g, us]) =>
          `| ${g} | ${perMessage(onCpu(g, us))} | ${((100 * onCpu(g, us)) / mainThread.onCpuUs).toFixed(1)} % | ${perMessage(us)} |`,
      ),
    '',
    '| top self-time functions (busy time, fsync waits included) | group | µs per message | share |',
    '|---|---|---|---|',
    ...[...functions.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 30)
      .map(
        ([name, f]) =>
          `| \`${name}\` | ${f.group} | ${perMessage(f.us)} | ${((100 * f.us) / total).toFixed(1)} % |`,
      ),
  ];
  return lines.join('\n');
}
