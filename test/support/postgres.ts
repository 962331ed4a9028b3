import { type ChildProcess, spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, parse } from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL server for the test suite: a fresh cluster (initdb) in a temporary
 * folder, listening on a free loopback port, removed again by `stop()`. PostgreSQL refuses to run
 * as root, so as root the cluster belongs to `nobody`. Durability settings stay at PostgreSQL's
 * defaults (fsync on): the tests check that acknowledged messages survive crashes.
 */

export interface ThrowawayPostgres {
  /** postgres://tegami@127.0.0.1:<port>/tegami_test */
  url: string;
  /**
   * Fast shutdown, then a start on the same data folder and port: connections break as they
   * would when a production server restarts. With `downMs`, the server stays down that long
   * (an outage). Resolves once it accepts connections again.
   */
  restart(downMs?: number): Promise<void>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

export class PostgresNotFoundError extends Error {
  constructor() {
    super(
      'PostgreSQL server programs (initdb, postgres) were not found on PATH or in ' +
        "/usr/lib/postgresql/<version>/bin. Install Debian's `postgresql` package " +
        '(apt-get install postgresql), or set TEGAMI_TEST_POSTGRES_URL=postgres://user@host:port/db ' +
        'to use an existing server.',
    );
  }
}

const USER = 'tegami';
const DATABASE = 'tegami_test';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function isExecutable(path: string): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && (stat.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Where the program `name` is on PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * The folder holding `initdb` and `postgres`: where `initdb` on PATH really lives (Debian-style
 * symlinks are followed), else the highest version under /usr/lib/postgresql. Null if none.
 */
export function findPostgresBin(): string | null {
  const initdb = onPath('initdb');
  if (initdb) {
    for (const dir of [dirname(realpathSync(initdb)), dirname(initdb)]) {
      if (isExecutable(join(dir, 'postgres'))) return dir;
    }
  }
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root);
  } catch {
    return null;
  }
  const candidates = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, 'bin'));
  return (
    candidates.find((d) => isExecutable(join(d, 'initdb')) && isExecutable(join(d, 'postgres'))) ??
    null
  );
}

/** uid and gid of `nobody` (and its primary group), for running PostgreSQL when we are root. */
function nobody(): { uid: number; gid: number } {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':');
      if (name === 'nobody' && uid && gid) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // fall through to the usual ids
  }
  return { uid: 65534, gid: 65534 };
}

/** `nobody` must be able to reach the temporary folder: every parent needs o+x. */
function assertReachableByOthers(dir: string): void {
  let current = dirname(dir);
  for (;;) {
    if ((statSync(current).mode & constants.S_IXOTH) === 0) {
      throw new Error(
        `${current} is not accessible to other users, so PostgreSQL (run as nobody, because ` +
          'root may not run it) cannot reach its data folder; set TMPDIR to a folder such as /tmp',
      );
    }
    if (current === parse(current).root) return;
    current = dirname(current);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

interface Identity {
  uid?: number;
  gid?: number;
}

function run(command: string, args: string[], cwd: string, as: Identity): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, ...as, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`)),
    );
  });
}

/** Whether `setpriv --pdeathsig` exists: it stops the server if this process dies (even -9). */
let setprivChecked: string | null | undefined;
async function setprivWithPdeathsig(): Promise<string | null> {
  if (setprivChecked !== undefined) return setprivChecked;
  const setpriv = onPath('setpriv');
  setprivChecked = null;
  if (setpriv) {
    try {
      await run(setpriv, ['--pdeathsig', 'SIGINT', '--', 'true'], '/', {});
      setprivChecked = setpriv;
    } catch {
      // too old (util-linux < 2.33): the exit handlers below must do
    }
  }
  return setprivChecked;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function waitUntilAccepting(port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!alive(child)) throw new StartFailed(readLog(log));
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: USER,
      database: 'postgres',
      connectionTimeoutMillis: 2_000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
    }
    if (Date.now() > deadline) {
      throw new Error(
        `PostgreSQL did not accept connections within ${START_TIMEOUT_MS} ms:\n${readLog(log)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

class StartFailed extends Error {
  constructor(readonly log: string) {
    super(`PostgreSQL exited while starting:\n${log}`);
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts a fresh PostgreSQL cluster and creates the database `tegami_test` in it. Throws
 * PostgresNotFoundError when the server programs are not installed. `settings` are more
 * `name=value` server settings (the benchmarks pass what docs/deploy.md recommends).
 */
export async function startThrowawayPostgres(
  options: { settings?: string[] } = {},
): Promise<ThrowawayPostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new PostgresNotFoundError();
  const isRoot = process.getuid?.() === 0;
  const as: Identity = isRoot ? nobody() : {};

  const root = mkdtempSync(join(tmpdir(), 'tegami-pg-'));
  const data = join(root, 'data');
  const sockets = join(root, 'sockets');
  const log = join(root, 'postgres.log');
  let child: ChildProcess | null = null;

  // Stops the server synchronously when this process exits without calling stop() (an uncaught
  // error, process.exit), and on signals before re-raising them.
  const stopSync = () => {
    if (child && alive(child)) {
      try {
        child.kill('SIGINT');
      } catch {
        // already gone
      }
      // The server removes postmaster.pid as the very last step of its shutdown.
      const deadline = Date.now() + 10_000;
      while (existsSync(join(data, 'postmaster.pid')) && Date.now() < deadline) sleepSync(50);
    }
    rmSync(root, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stopSync();
    removeHooks();
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const removeHooks = () => {
    process.off('exit', stopSync);
    for (const s of signals) process.off(s, onSignal);
  };
  process.on('exit', stopSync);
  for (const s of signals) process.on(s, onSignal);

  try {
    mkdirSync(sockets);
    if (isRoot && as.uid !== undefined && as.gid !== undefined) {
      assertReachableByOthers(root);
      chownSync(root, as.uid, as.gid);
      chownSync(sockets, as.uid, as.gid);
    }
    await run(
      join(bin, 'initdb'),
      ['-D', data, '--auth=trust', `--username=${USER}`, '--encoding=UTF8', '--locale=C'],
      root,
      as,
    );

    const setpriv = await setprivWithPdeathsig();
    const serverArgs = (port: number) => [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      sockets,
      '-c',
      'listen_addresses=127.0.0.1',
      // Every test file runs its own services, each with a connection pool.
      '-c',
      'max_connections=300',
      // Durable like production: nothing here trades safety for speed.
      '-c',
      'fsync=on',
      '-c',
      'synchronous_commit=on',
      '-c',
      'full_page_writes=on',
      '-c',
      'lc_messages=C',
      ...(options.settings ?? []).flatMap((setting) => ['-c', setting]),
    ];
    /** Starts the server on `port` and waits until it accepts connections. */
    const launch = async (port: number): Promise<void> => {
      const args = serverArgs(port);
      const logFd = openSync(log, 'a');
      let started: ChildProcess;
      try {
        // With setpriv, the server gets SIGINT (fast shutdown) should this process die.
        started = setpriv
          ? spawn(setpriv, ['--pdeathsig', 'SIGINT', '--', join(bin, 'postgres'), ...args], {
              cwd: root,
              ...as,
              stdio: ['ignore', logFd, logFd],
            })
          : spawn(join(bin, 'postgres'), args, {
              cwd: root,
              ...as,
              stdio: ['ignore', logFd, logFd],
            });
      } finally {
        closeSync(logFd);
      }
      started.on('error', () => {});
      child = started;
      await waitUntilAccepting(port, started, log);
    };
    /** Fast shutdown (SIGINT), killing it if that takes too long. */
    const shutdown = async (): Promise<void> => {
      const server = child;
      if (!server || !alive(server)) return;
      const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      server.kill('SIGINT');
      const timer = setTimeout(() => server.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    };

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await launch(port);
        break;
      } catch (error) {
        // Another process may have taken the port between freePort() and the server's bind.
        const portTaken =
          error instanceof StartFailed && /could not (bind|create listen socket)/i.test(error.log);
        if (!portTaken || attempt >= 3) throw error;
      }
    }

    const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`create database ${DATABASE}`);
    } finally {
      await admin.end();
    }

    let stopping: Promise<void> | null = null;
    return {
      url: `postgres://${USER}@127.0.0.1:${port}/${DATABASE}`,
      async restart(downMs = 0) {
        if (stopping) throw new Error('the server was stopped');
        await shutdown();
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        await launch(port);
      },
      stop() {
        stopping ??= (async () => {
          await shutdown();
          removeHooks();
          rmSync(root, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (error) {
    stopSync();
    removeHooks();
    throw error;
  }
}
