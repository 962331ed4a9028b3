import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import type { Logger } from 'pino';
import { loadConfig } from '../src/cli/config.ts';
import { type RunningService, startService } from '../src/cli/wire.ts';
import { createApiKey } from '../src/domain/api-keys.ts';
import { newId } from '../src/domain/ids.ts';
import type { MessageStore } from '../src/domain/ports/message-store.ts';
import type { Attempt, MessageContent } from '../src/domain/types.ts';
import { createLogger } from '../src/ops/logger.ts';
import {
  type DatabaseHandle,
  migrateToLatest,
  openDatabase,
  SqlApiKeyStore,
} from '../src/store/index.ts';
import type { AttemptTable } from '../src/store/schema.ts';

export const TEST_KEY = 'tgm_test_bootstrap_key_0123456789abcdef';

/**
 * The engine this run of the suite uses (scripts/run-tests.js runs it once per engine). On
 * PostgreSQL, TEGAMI_TEST_POSTGRES_URL names a database in which each test gets its own schema.
 */
export const TEST_ENGINE: 'sqlite' | 'postgres' =
  process.env.TEGAMI_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite';
const POSTGRES_URL = process.env.TEGAMI_TEST_POSTGRES_URL ?? '';
if (TEST_ENGINE === 'postgres' && !POSTGRES_URL) {
  throw new Error(
    'TEGAMI_TEST_ENGINE=postgres needs TEGAMI_TEST_POSTGRES_URL (see scripts/run-tests.js)',
  );
}

export interface TempDatabase {
  /** TEGAMI_DATABASE_URL for it. */
  url: string;
  /** A fresh folder for other files the test needs; removed by `cleanup`. */
  dir: string;
  /**
   * Removes the folder and the database (in a test file: once all its tests ran, and only if
   * none failed; see tempDatabase); never throws.
   */
  cleanup: () => Promise<void>;
}

/**
 * Whether a test file carries the `// tegami-test: no-database` marker in its leading comment
 * lines: scripts/run-tests.js then runs it in the first pass only. Same rule as there.
 */
export function isMarkedDatabaseFree(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '// tegami-test: no-database') return true;
    if (trimmed !== '' && !trimmed.startsWith('//')) return false;
  }
  return false;
}

/** The test file this process runs (node --test runs each file as `node <file>`), if any. */
const TEST_FILE = /\.test\.ts$/.test(process.argv[1] ?? '') ? (process.argv[1] as string) : null;

/**
 * A database of its own for the caller: a real SQLite file in a fresh folder, or on PostgreSQL a
 * fresh schema (`?schema=t_…`, created by the first migration).
 *
 * In a test file (see `TEST_FILE`), `cleanup()` only hands the database over: it is removed once
 * every test of the file has run, or kept if one of them failed, with a line on stderr saying
 * where it is (see `settleDatabases`). Elsewhere (the benchmarks) `cleanup()` removes it at once.
 */
export function tempDatabase(): TempDatabase {
  if (TEST_FILE && isMarkedDatabaseFree(TEST_FILE)) {
    // It would run on one engine only: the marker must go (see test/README.md).
    throw new Error(
      `${TEST_FILE} is marked "// tegami-test: no-database" but makes a database; remove the marker`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'tegami-test-'));
  if (TEST_ENGINE === 'sqlite') {
    const url = `sqlite:${join(dir, 'tegami.db')}`;
    return track({ dir, url, where: `${url} (folder ${dir})`, schema: null });
  }
  const schema = `t_${randomBytes(8).toString('hex')}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('schema', schema);
  return track({
    dir,
    url: url.toString(),
    where: `schema ${schema} at ${withoutPassword(POSTGRES_URL)} (folder ${dir})`,
    schema,
  });
}

interface MadeDatabase {
  dir: string;
  url: string;
  /** Where it is, for the "kept" line: the URL or schema (no password) and the folder. */
  where: string;
  /** PostgreSQL: its schema. */
  schema: string | null;
  /** open: in use; handed over: cleanup() was called; done: removed or reported as kept. */
  state: 'open' | 'handed over' | 'done';
}

/** Every database this test file made. */
const databases: MadeDatabase[] = [];
/** Set once the file's tests have all run: from then on, cleanup() decides at once. */
let settled = false;

/**
 * Whether a test (or hook) of this file failed. Node's runner sets `process.exitCode` to 1 as it
 * reports each failed test or hook (on node:test's `test:fail`), before any later hook runs;
 * nothing else in a test process sets it, so it is the file's verdict so far.
 */
const fileFailed = () => (process.exitCode ?? 0) !== 0;

function track(entry: Omit<MadeDatabase, 'state'>): TempDatabase {
  const database: MadeDatabase = { ...entry, state: 'open' };
  databases.push(database);
  return {
    dir: database.dir,
    url: database.url,
    async cleanup() {
      if (database.state !== 'open') return;
      if (TEST_FILE && !settled) {
        database.state = 'handed over';
        return;
      }
      database.state = 'done';
      if (TEST_FILE && fileFailed()) reportKept(database);
      else await remove([database]);
    },
  };
}

function reportKept(database: MadeDatabase, note = ''): void {
  const file = TEST_FILE ? relative(process.cwd(), TEST_FILE) : 'a test file';
  process.stderr.write(`${file} failed: kept its test database ${database.where}${note}\n`);
}

/** Removes folders and drops schemas (all in one connection); never throws. */
async function remove(list: MadeDatabase[]): Promise<void> {
  for (const d of list) {
    try {
      rmSync(d.dir, { recursive: true, force: true });
    } catch {
      // a leftover temporary folder is harmless
    }
  }
  const schemas = list.flatMap((d) => (d.schema ? [d.schema] : []));
  if (schemas.length === 0) return;
  const client = new pg.Client({
    connectionString: POSTGRES_URL,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    // Best effort: a killed process's connection may still hold a lock for a moment.
    await client.query("set lock_timeout = '10s'");
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } catch {
    // a leftover schema in a throwaway database is harmless
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Runs after the last test of the file (a root-level `after` hook runs once every test and suite,
 * hooks included, has finished): removes the databases handed over, or keeps them and says where
 * if the file failed. A database still open then is left to its later cleanup() (from another
 * root-level `after`, which then decides at once) or, if never cleaned up, reported at exit.
 */
async function settleDatabases(): Promise<void> {
  settled = true;
  const handedOver = databases.filter((d) => d.state === 'handed over');
  for (const d of handedOver) d.state = 'done';
  if (fileFailed()) for (const d of handedOver) reportKept(d);
  else await remove(handedOver);
}

if (TEST_FILE) {
  after(settleDatabases);
  process.on('exit', () => {
    if (!fileFailed()) return;
    for (const d of databases) if (d.state === 'open') reportKept(d, ' (never cleaned up)');
  });
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** int8 (count(*), epoch milliseconds) as numbers, as SQLite gives them. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    // biome-ignore lint/suspicious/noExplicitAny: pg's own overloads
    return pg.types.getTypeParser(oid, format as any);
  },
} as pg.CustomTypesConfig;

/**
 * A migrated temporary database for the tests of the `describe` it is called in: opened in that
 * suite's `before`, closed and removed in its `after`. Its `handle` is there once `before` ran.
 */
export function migratedDatabase(): { readonly handle: DatabaseHandle } {
  let db: TempDatabase | null = null;
  let handle: DatabaseHandle | null = null;
  before(async () => {
    db = tempDatabase();
    handle = openDatabase(db.url);
    await migrateToLatest(handle.db);
  });
  after(async () => {
    await handle?.close();
    await db?.cleanup();
  });
  return {
    get handle() {
      if (!handle) throw new Error('migratedDatabase: its handle is there from the suite’s before');
      return handle;
    },
  };
}

/**
 * Runs one statement against a test database, whatever its engine, and returns the rows: for
 * tests that look at what is stored. Parameters are written `?` (no other `?` may appear in a
 * statement that has parameters). Read-only on both engines.
 */
export async function queryDatabase<Row = Record<string, unknown>>(
  url: string,
  sqlText: string,
  params: unknown[] = [],
): Promise<Row[]> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    const sqlite = new SqliteDatabase(path, {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return sqlite.prepare(sqlText).all(...params) as Row[];
    } finally {
      sqlite.close();
    }
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const client = new pg.Client({
    connectionString: parsed.toString(),
    types: pgTypes,
    // Read-only like the SQLite side, so both engines allow the same statements.
    options: `-c default_transaction_read_only=on${schema ? ` -c search_path=${schema}` : ''}`,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    let n = 0;
    const text = params.length === 0 ? sqlText : sqlText.replace(/\?/g, () => `$${++n}`);
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

export interface TestService {
  url: string;
  /** TEGAMI_DATABASE_URL of its database, for commands run against it. */
  databaseUrl: string;
  service: RunningService;
  request: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: any; headers: Headers }>;
  stop: () => Promise<void>;
}

export interface TestServiceOptions {
  /** Where the service logs (default: a logger at TEGAMI_LOG_LEVEL, `silent` unless set). */
  logger?: Logger;
  /** Cluster-wide chores: maintenance rounds and the alert evaluator (default on, as served). */
  housekeeping?: boolean;
}

/** The whole service in this process, on a real loopback port and a database of its own. */
export async function startTestService(
  env: Record<string, string> = {},
  options: TestServiceOptions = {},
): Promise<TestService> {
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
    logger: options.logger ?? createLogger(config.logLevel),
    ...(options.housekeeping !== undefined ? { housekeeping: options.housekeeping } : {}),
    api: env.TEGAMI_TEST_NO_API !== '1',
    worker: env.TEGAMI_TEST_NO_WORKER !== '1',
    announce: () => {},
    // As `tegami serve` runs it by default (cli/main.ts); a lost thread fails the test.
    ...(env.TEGAMI_TEST_PROVIDER_THREAD === '1'
      ? {
          providerThread: {
            onLost: (reason: string) => {
              throw new Error(`provider thread lost: ${reason}`);
            },
          },
        }
      : {}),
  });
  const url = service.url ?? '';
  return {
    url,
    databaseUrl: config.databaseUrl,
    service,
    request: (method, path, body, headers = {}) => request(url, method, path, body, headers),
    async stop() {
      await service.stop();
      await db?.cleanup();
    },
  };
}

/**
 * A business unit made through `POST /v1/units` (an admin key), and an API key of it made in its
 * database as `tegami keys create --unit` makes one: what a unit's application holds.
 */
export async function createUnitWithKey(
  tegami: TestService,
  name: string,
): Promise<{ id: string; key: string }> {
  const created = await tegami.request('POST', '/v1/units', { name });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id as string;
  const keys = new SqlApiKeyStore(tegami.service.database);
  const { key } = await createApiKey(keys, `${name} app`, Date.now(), { unitId: id });
  return { id, key };
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

/**
 * A send the provider accepted, as the worker hands it to the store (`Attempt`, the domain's
 * shape; `acceptedAttempt` below is its database row). `fields` replaces any field.
 */
export function acceptedSend(
  number: number,
  startedAt: number,
  fields: Partial<Attempt> = {},
): Attempt {
  return {
    number,
    provider: 'sendgrid',
    startedAt,
    durationMs: 1,
    outcome: 'accepted',
    httpStatus: 202,
    providerMessageId: null,
    errorClass: null,
    detail: null,
    responseExcerpt: null,
    providerFault: null,
    providerErrors: null,
    rateLimit: null,
    networkError: null,
    ...fields,
  };
}

/**
 * The `attempts` row of a first send that the provider accepted, as a worker records it: for
 * tests that need a message sent (and named by the provider's message id) without sending it.
 * `fields` replaces any column.
 */
export function acceptedAttempt(
  messageId: string,
  providerMessageId: string | null,
  fields: Partial<AttemptTable> = {},
): AttemptTable {
  return {
    message_id: messageId,
    number: 1,
    provider: 'sendgrid',
    started_at: Date.now(),
    duration_ms: 10,
    outcome: 'accepted',
    http_status: 202,
    provider_message_id: providerMessageId,
    error_class: null,
    detail: null,
    response_excerpt: null,
    provider_fault: null,
    provider_errors: null,
    rate_limit: null,
    network_error: null,
    ...fields,
  };
}

/**
 * Stores one `message()` straight through a message store (no HTTP), created (and due) at
 * `createdAt`; returns its id. For tests of claims, leases and results, and of rows the API
 * would not take today (`attachments`).
 */
export async function storeOneMessage(
  messages: Pick<MessageStore, 'submit'>,
  createdAt = Date.now(),
  attachments: MessageContent['attachments'] = [],
): Promise<string> {
  const id = newId('msg');
  const content = {
    ...message(),
    cc: [],
    bcc: [],
    headers: {},
    categories: [],
    metadata: {},
    attachments,
  };
  await messages.submit({ messages: [{ id, apiKeyId: null, content, sendAt: null, createdAt }] });
  return id;
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

/** A loopback port free right now (for a process whose stdout cannot say where it listens). */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Posts SendGrid events to `baseUrl` (unsigned: insecure mode) and checks they were taken. */
export async function postUnsignedEvents(
  baseUrl: string,
  events: Record<string, unknown>[],
): Promise<void> {
  const response = await fetch(`${baseUrl}/webhooks/sendgrid`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      events.map((e) => ({
        timestamp: Math.floor(Date.now() / 1000),
        sg_event_id: randomUUID(),
        ...e,
      })),
    ),
  });
  assert.ok(response.status < 300, `webhook answered ${response.status}`);
}

export interface Spawned {
  child: ChildProcess;
  /** Standard output and error together, in the order they came. */
  output: () => string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the URL once the process prints that it listens (or runs, for a worker). */
  ready: Promise<string>;
  exited: Promise<number | null>;
}

export const BIN = new URL('../bin/tegami.js', import.meta.url).pathname;

/** Runs the real `tegami` command in a child process; `input`, if given, is its standard input. */
export function spawnTegami(
  args: string[],
  env: Record<string, string>,
  { input }: { input?: string } = {},
): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, TEGAMI_LOG_LEVEL: 'warn', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) {
    // The command may stop reading (and exit) before all of a long input is written.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  }
  let out = '';
  let stdout = '';
  let stderr = '';
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      stdout += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
      else if (out.includes('worker running')) resolve('');
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      stderr += chunk.toString();
    });
    child.once('exit', (code) =>
      reject(new Error(`tegami ${args.join(' ')} exited (${code}):\n${out}`)),
    );
  });
  ready.catch(() => {});
  // 'close', not 'exit': 'exit' may come before the last of the output is read, and a test
  // that reads what the process printed once it has exited must not miss its end.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  return { child, output: () => out, stdout: () => stdout, stderr: () => stderr, ready, exited };
}

/**
 * Runs `tegami …` to completion: its standard output and error together as `output`, or, with
 * `apart`, each on its own, for a command that says different things on each (the `list`
 * commands' way to their older rows is on standard error).
 */
export async function runTegami(
  args: string[],
  env: Record<string, string>,
  options?: { input?: string; apart?: false },
): Promise<{ code: number | null; output: string }>;
export async function runTegami(
  args: string[],
  env: Record<string, string>,
  options: { input?: string; apart: true },
): Promise<{ code: number | null; stdout: string; stderr: string }>;
export async function runTegami(
  args: string[],
  env: Record<string, string>,
  { input, apart = false }: { input?: string; apart?: boolean } = {},
) {
  const spawned = spawnTegami(args, env, { input });
  const code = await spawned.exited;
  if (!apart) return { code, output: spawned.output() };
  return { code, stdout: spawned.stdout(), stderr: spawned.stderr() };
}
