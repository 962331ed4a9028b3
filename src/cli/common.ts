import { userInfo } from 'node:os';
import { OperationsError, withListHint } from '../domain/operations/errors.ts';
import type { Actor } from '../domain/operations/scope.ts';
import type { DatabaseHandle } from '../store/index.ts';
import type { Config } from './config.ts';
import { openAndMigrate } from './wire.ts';
import { createOperations, type Operations } from './wire-operations.ts';

/** Shared by the operations commands (`units`, `unsent`, `recover`, `recoveries`, `audit`). */

/** The person at the terminal, for the audit log: the OS user. */
export function cliActor(): Actor {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  return { type: 'cli', id: user, name: null };
}

/**
 * Opens the database for an operations command. `mustExist`: the command reads or acts on what
 * is there (a list, a summary, a recovery), so a SQLite file that does not exist is refused
 * (DatabaseUnavailableError) instead of being created empty; commands that create something
 * (`units create`, `users create`) may start a fresh database.
 */
export async function openOperations(
  config: Config,
  { mustExist }: { mustExist: boolean },
): Promise<{ database: DatabaseHandle; operations: Operations; close: () => Promise<void> }> {
  const { database } = await openAndMigrate(config, undefined, { mustExist, upgrade: 'refuse' });
  // PostgreSQL: workers elsewhere hear about requeued mail at once; SQLite workers poll.
  const operations = createOperations(database, config, {
    onRequeued: () => database.notify('tegami_due'),
  });
  return { database, operations, close: () => database.close() };
}

/**
 * What a terminal must not be handed as text: control characters (an escape sequence drives the
 * terminal of whoever reads the table, rewriting what it shows or its title; a line break or a
 * carriage return forges a row), Unicode's line and paragraph separators, and the bidi controls,
 * which reorder what is shown.
 */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * A cell as the terminal gets it: each unprintable character as its `\u` escape (as JSON writes
 * one). Cells hold text stored from requests, and not all of it is checked for these: mail taken
 * by `POST /v3/mail/send` for the `sendgrid` provider is SendGrid's to judge, its subject included.
 */
export function terminalText(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Prints rows as an aligned table with a header line, every cell as terminalText shows it. */
export function printTable(header: string[], rows: (string | number | null)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))].map(
    (row) => row.map(terminalText),
  );
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const row of cells) {
    console.log(
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
  }
}

/**
 * The lists the CLI pages as the console does (`users list`, `keys list`): this many at once
 * unless --limit says otherwise, a page of the console's.
 */
export const LIST_PAGE = 50;
/** The most --limit takes, as `tegami audit` and `tegami alerts`. */
export const LIST_MOST = 500;

/** The page size `--limit` asks for (LIST_PAGE without it), or NaN when it is no such number. */
export function listPageLimit(limit: string | undefined): number {
  if (limit === undefined) return LIST_PAGE;
  const asked = /^\d{1,3}$/.test(limit) ? Number(limit) : Number.NaN;
  return asked >= 1 && asked <= LIST_MOST ? asked : Number.NaN;
}

/** Where a list the CLI pages reads its rows: newest first, keyset by id, as the console's pages. */
export interface CliPageSource<Row extends { id: string }> {
  findById(id: string): Promise<Row | null>;
  /** Those before `beforeId` (none: the newest), at most `limit`. */
  listPage(page: { limit: number; beforeId?: string }): Promise<Row[]>;
}

/** A page of a list the CLI pages as the console does (`users list`, `keys list`). */
export interface CliPage<Row extends { id: string }> {
  /** The command, named for what it lists: `users`, `keys`. */
  command: string;
  /** One of what it lists, as an error names it: `user`, `key`. */
  one: string;
  source: CliPageSource<Row>;
  limit: number;
  /** The page is of the rows before this one; none: the newest. */
  before: string | undefined;
}

/**
 * `tegami <command> list`: one page of rows, given to `print`. The rows go to standard output,
 * so a script reading them reads a page as it read the whole list; the way to the older rows goes
 * to standard error, so it is never taken for a row. Returns the exit code.
 */
export async function printCliPage<Row extends { id: string }>(
  { command, one, source, limit, before }: CliPage<Row>,
  print: (rows: Row[]) => Promise<void>,
): Promise<number> {
  // Both lists keep every row (users are never deleted, keys only revoked), so an id naming none
  // is a typo: read on from it, the page would be some other slice of the list, or empty, which
  // reads as its end.
  if (before !== undefined && !(await source.findById(before))) {
    console.error(`tegami ${command}: no ${one} has the id ${before} (see tegami ${command} list)`);
    return 2;
  }
  // One more than a page: whether older rows remain.
  const found = await source.listPage({
    limit: limit + 1,
    ...(before !== undefined ? { beforeId: before } : {}),
  });
  const rows = found.slice(0, limit);
  await print(rows);
  const last = found.length > limit ? rows[rows.length - 1] : undefined;
  if (last) {
    const sameLimit = limit === LIST_PAGE ? '' : ` --limit ${limit}`;
    console.error(`Older ${command}: tegami ${command} list --before ${last.id}${sameLimit}`);
  }
  return 0;
}

/** Where a CLI user finds the names a field takes (OperationsError's `seeList`). */
export const CLI_LISTS = { units: 'tegami units list' } as const;

/** A refused operation as a line for people, and its exit code. */
export function reportOperationsError(command: string, error: unknown): number {
  if (!(error instanceof OperationsError)) throw error;
  const details = withListHint(error, CLI_LISTS)
    .map((d) => `\n  ${d.field}: ${d.message}`)
    .join('');
  console.error(`tegami ${command}: ${error.message}${details}`);
  return error.kind === 'invalid' ? 2 : 1;
}

/** parseArgs's own words, without its advice about `--` (no command takes such arguments). */
export function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option "${option}"`;
  // parseArgs takes `--rate -5` for an option without its value followed by another option.
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option && message.includes('ambiguous'))
    return `"${option}" needs a value after it (one that begins with "-" is written ${option}=VALUE)`;
  return message;
}

export function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
