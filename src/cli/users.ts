import { parseArgs } from 'node:util';
import { checkNewUser } from '../domain/console-accounts.ts';
import { CONSOLE_ROLES, type ConsoleRole } from '../domain/console-users.ts';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import {
  cliActor,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
} from './common.ts';
import type { Config } from './config.ts';
import { consoleAccounts } from './wire.ts';

export const USERS_USAGE = `Usage: tegami users create --email E [--role R] [--unit U ...] [--no-bodies]
       tegami users list

Console users (sign in at /console). The password is read from standard input (its first line),
so it never shows in the process list or the shell history; on a terminal it is asked for and
not shown:

  printf '%s\\n' "$PASSWORD" | tegami users create --email ops@example.jp --role operator

Options:
  --email E             the user's e-mail address (signs in with it)
  --role R              admin, operator or viewer (default: viewer)
  --unit U              a unit the user sees (repeat for several; default: every unit)
  --no-bodies           the user sees message metadata only, never the content
  -h, --help            show this help`;

/**
 * More than the longest password (1,024 characters of up to 4 bytes): reading stops here, so an
 * endless input (`yes |`) cannot fill the memory; what was read is then refused as too long.
 */
const MAX_PASSWORD_INPUT_BYTES = 4 * 1024 + 2;

/** The password: the first line of standard input, or typed at a prompt that does not echo it. */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) return typedUnseen('Password (not shown): ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const bytes = chunk as Buffer;
    const end = bytes.indexOf(0x0a);
    chunks.push(end < 0 ? bytes : bytes.subarray(0, end));
    size += bytes.length;
    if (end >= 0 || size > MAX_PASSWORD_INPUT_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

/** A line typed on the terminal, not shown; Ctrl-C or Ctrl-D gives up. */
async function typedUnseen(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  let typed = '';
  try {
    for await (const chunk of stdin) {
      for (const character of (chunk as Buffer).toString('utf8')) {
        if (character === '\r' || character === '\n') return typed;
        if (character === '\u0003' || character === '\u0004') return '';
        if (character === '\u007f' || character === '\b')
          typed = Array.from(typed).slice(0, -1).join('');
        else typed += character;
        if (typed.length > MAX_PASSWORD_INPUT_BYTES) return typed;
      }
    }
    return typed;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

/** `tegami users …`: returns the exit code. */
export async function runUsersCommand(config: () => Config, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami users: ${(error as Error).message}\n\n${USERS_USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USERS_USAGE);
    return 0;
  }
  const [action, ...rest] = positionals;
  const role = values.role ?? 'viewer';
  const problem =
    action !== 'list' && action !== 'create'
      ? action === undefined
        ? 'say create or list'
        : `unknown action ${JSON.stringify(action)}: create or list`
      : rest.length > 0
        ? `unexpected ${JSON.stringify(rest[0])}`
        : action === 'create' && values.email === undefined
          ? '--email is missing'
          : !(CONSOLE_ROLES as readonly string[]).includes(role)
            ? `--role must be ${CONSOLE_ROLES.join(', ')}, not ${JSON.stringify(role)}`
            : null;
  if (problem) {
    console.error(`tegami users: ${problem}\n\n${USERS_USAGE}`);
    return 64;
  }
  const password = action === 'create' ? await readPassword() : '';
  // Refused before the database is opened, so a bad address or password creates nothing (not
  // even a new SQLite file).
  try {
    if (action === 'create') checkNewUser(values.email as string, password);
  } catch (error) {
    return reportOperationsError('users', error);
  }
  const { database, operations, close } = await openOperations(config(), {
    mustExist: action === 'list',
  });
  try {
    const accounts = consoleAccounts(database, operations.service);
    if (action === 'list') {
      const units = await operations.service.listUnits(ALL_UNITS);
      const names = new Map(units.map((u) => [u.id, u.name]));
      printTable(
        ['EMAIL', 'ROLE', 'UNITS', 'CONTENT', 'ID'],
        (await accounts.listUsers()).map((u) => [
          u.email,
          u.role,
          u.unitIds === null ? 'all' : u.unitIds.map((id) => names.get(id) ?? id).join(','),
          u.canReadBodies ? 'yes' : 'metadata only',
          u.id,
        ]),
      );
      return 0;
    }
    const unitIds: string[] = [];
    for (const name of values.unit ?? []) {
      const unit = await operations.service.findUnit(name);
      if (!unit) {
        console.error(`tegami users: no unit is named "${name}" (see tegami units list)`);
        return 2;
      }
      unitIds.push(unit.id);
    }
    const user = await accounts.createUser(cliActor(), {
      email: values.email as string,
      password,
      role: role as ConsoleRole,
      unitIds: unitIds.length > 0 ? unitIds : null,
      canReadBodies: !values['no-bodies'],
    });
    console.log(`Created ${user.role} ${user.email} (${user.id}); sign in at /console.`);
    return 0;
  } catch (error) {
    return reportOperationsError('users', error);
  } finally {
    await close();
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      email: { type: 'string' },
      role: { type: 'string' },
      unit: { type: 'string', multiple: true },
      'no-bodies': { type: 'boolean' },
    },
  });
}
