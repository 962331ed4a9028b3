import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { type RunningService, startService } from '../src/service.ts';

export const TEST_KEY = 'tgm_test_bootstrap_key_0123456789abcdef';

/** A fresh folder with a real SQLite file path in it; removed by `cleanup`. */
export function tempDatabase(): { url: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tegami-test-'));
  return {
    dir,
    url: `sqlite:${join(dir, 'tegami.db')}`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TestService {
  url: string;
  service: RunningService;
  request: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: any; headers: Headers }>;
  stop: () => Promise<void>;
}

/** The whole service in this process, on a real loopback port and a real SQLite file. */
export async function startTestService(env: Record<string, string> = {}): Promise<TestService> {
  const db = env.TEGAMI_DATABASE_URL ? null : tempDatabase();
  const config = loadConfig({
    TEGAMI_DATABASE_URL: db?.url ?? '',
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'silent',
    TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    ...env,
  });
  const service = await startService({
    config,
    logger: createLogger(config.logLevel),
    api: env.TEGAMI_TEST_NO_API !== '1',
    worker: env.TEGAMI_TEST_NO_WORKER !== '1',
    announce: () => {},
  });
  const url = service.url ?? '';
  return {
    url,
    service,
    request: (method, path, body, headers = {}) => request(url, method, path, body, headers),
    async stop() {
      await service.stop();
      db?.cleanup();
    },
  };
}

export async function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  key = TEST_KEY,
): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
  };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${baseUrl}${path}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON; keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function message(overrides: Record<string, unknown> = {}) {
  return {
    from: { email: 'bookings@hotel.example', name: 'Hotel' },
    to: [{ email: 'guest@example.com', name: 'Guest' }],
    subject: 'Your booking is confirmed',
    text: 'See you soon.',
    ...overrides,
  };
}

export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the URL once the process prints that it listens (or runs, for a worker). */
  ready: Promise<string>;
  exited: Promise<number | null>;
}

const BIN = new URL('../bin/tegami.js', import.meta.url).pathname;

/** Runs the real `tegami` command in a child process. */
export function spawnTegami(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, TEGAMI_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
      else if (out.includes('worker running')) resolve('');
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('exit', (code) =>
      reject(new Error(`tegami ${args.join(' ')} exited (${code}):\n${out}`)),
    );
  });
  ready.catch(() => {});
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, output: () => out, ready, exited };
}

/** Runs `tegami …` to completion. */
export async function runTegami(args: string[], env: Record<string, string>) {
  const spawned = spawnTegami(args, env);
  const code = await spawned.exited;
  return { code, output: spawned.output() };
}
