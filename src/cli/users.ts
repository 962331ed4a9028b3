import { parseArgs } from 'node:util';
import type { ConsoleAccounts } from '../domain/console-accounts.ts';
import { checkNewPassword, checkNewUser } from '../domain/console-accounts.ts';
import {
  CONSOLE_ROLES,
  type ConsoleRole,
  type ConsoleUser,
  lockOf,
} from '../domain/console-users.ts';
import { isIdOf } from '../domain/ids.ts';
import { OperationsError } from '../domain/operations/errors.ts';
import type { ConsoleUserPage } from '../domain/ports/console-user-store.ts';
import {
  CLI_LISTS,
  cliActor,
  describeParseError,
  isParseArgsError,
  LIST_MOST,
  listPageLimit,
  openOperations,
  printCliPage,
  printTable,
  reportOperationsError,
} from './common.ts';
import type { Config } from './config.ts';
import { readNewPassword, readPassword } from './password-input.ts';
import { consoleAccounts } from './wire.ts';
import type { Operations } from './wire-operations.ts';

export const USERS_USAGE = `Usage: tegami users create --email E [--role R] [--unit U ...] [--no-bodies]
       tegami users list [--limit N] [--before ID]
       tegami users unlock <email>
       tegami users set-password <email>
       tegami users disable <email>
       tegami users enable <email>
       tegami users sign-out <email>

Console users (sign in at /console). The password of a new user is read from standard input
(its first line), so it never shows in the process list or the shell history; on a terminal it
is asked for and not shown:

  printf '%s\\n' "$PASSWORD" | tegami users create --email ops@example.jp --role operator

When a password leaks or someone leaves:

  unlock        clears the failed sign-ins and every lock (5 wrong passwords from one address
                lock that address out for 15 minutes; failures from 10 addresses within 15
                minutes lock everyone out)
  set-password  a new password, from TEGAMI_NEW_PASSWORD if set, else typed twice on a terminal;
                also ends every session of the user and unlocks it
  disable       the user can no longer sign in, and its sessions end at once (never the last
                admin); enable lets it sign in again
  sign-out      ends every session of the user

list shows the users newest first, 50 at a time, each with its state: active, disabled, or
locked until a time (UTC), for some addresses or for all. When older users remain, it says on
standard error how to list them: the same command with --before the last ID shown.

Options:
  --email E             the user's e-mail address (signs in with it)
  --role R              admin, operator or viewer (default: viewer)
  --unit U              a unit the user sees (repeat for several; default: every unit)
  --no-bodies           the user sees message metadata only, never the content
  --limit N             list: at most N users (1 to 500, default 50)
  --before ID           list: the users created before the user ID (the last ID of the page
                        before)
  -h, --help            show this help`;

/** The actions on one existing user, named by its address. */
const ON_A_USER = ['unlock', 'set-password', 'disable', 'enable', 'sign-out'] as const;
type OnAUser = (typeof ON_A_USER)[number];
const ACTIONS = ['create', 'list', ...ON_A_USER] as const;

/** `tegami users …`: returns the exit code. */
export async function runUsersCommand(config: () => Config, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami users: ${describeParseError(error)}\n\n${USERS_USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USERS_USAGE);
    return 0;
  }
  const [action, ...rest] = positionals;
  const problem = usageProblem(action, rest, values);
  if (problem) {
    console.error(`tegami users: ${problem}\n\n${USERS_USAGE}`);
    return 64;
  }
  if ((ON_A_USER as readonly string[]).includes(action as string)) {
    return onAUser(config, action as OnAUser, rest[0] as string);
  }
  const role = values.role ?? 'viewer';
  const password = action === 'create' ? await readPassword() : '';
  // Nothing piped in (a script that forgot to) would otherwise read as a password too short.
  if (action === 'create' && password === '') {
    console.error(
      process.stdin.isTTY
        ? 'tegami users: no password was typed; nothing was created'
        : `tegami users: no password was given on standard input; give it as the first line, e.g. printf '%s\\n' "$PASSWORD" | tegami users create --email ${values.email} (or run it on a terminal to type it)`,
    );
    return 2;
  }
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
    const accounts = consoleAccounts(database);
    if (action === 'list') {
      return await printUserPage(accounts, operations, listPageLimit(values.limit), values.before);
    }
    const unitIds: string[] = [];
    for (const name of values.unit ?? []) {
      const unit = await operations.service.findUnit(name);
      if (!unit) {
        console.error(`tegami users: no unit is named "${name}" (see ${CLI_LISTS.units})`);
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

/** The options of one action: given to another, a mistake to say rather than ignore. */
const CREATE_ONLY = ['email', 'role', 'unit', 'no-bodies'] as const;
const LIST_ONLY = ['limit', 'before'] as const;

/** What is wrong with the command line, or null. */
function usageProblem(
  action: string | undefined,
  rest: string[],
  values: ReturnType<typeof parse>['values'],
): string | null {
  const role = values.role ?? 'viewer';
  const stray = (options: readonly string[], owner: string) => {
    const option = options.find((o) => o in values);
    return option ? `--${option} is for ${owner} only` : null;
  };
  if (action === undefined) return `say ${ACTIONS.join(', ')}`;
  if (!(ACTIONS as readonly string[]).includes(action)) {
    return `unknown action ${JSON.stringify(action)}: ${ACTIONS.join(', ')}`;
  }
  if ((ON_A_USER as readonly string[]).includes(action)) {
    if (rest.length !== 1) return `${action} takes one e-mail address`;
    return stray(CREATE_ONLY, 'create') ?? stray(LIST_ONLY, 'list');
  }
  if (rest.length > 0) return `unexpected ${JSON.stringify(rest[0])}`;
  if (action === 'list') {
    if (values.limit !== undefined && Number.isNaN(listPageLimit(values.limit))) {
      return `--limit must be a whole number from 1 to ${LIST_MOST}`;
    }
    if (values.before !== undefined && !isIdOf('usr', values.before)) {
      return "--before must be a user's id (usr_..., from the ID column of tegami users list)";
    }
    return stray(CREATE_ONLY, 'create');
  }
  const listOption = stray(LIST_ONLY, 'list');
  if (listOption) return listOption;
  if (values.email === undefined) return '--email is missing';
  if (!(CONSOLE_ROLES as readonly string[]).includes(role)) {
    return `--role must be ${CONSOLE_ROLES.join(', ')}, not ${JSON.stringify(role)}`;
  }
  return null;
}

/**
 * `users list`: one page of users, newest first, read as the console's users page reads them
 * (keyset by id), each row printed as it always has been.
 */
function printUserPage(
  accounts: ConsoleAccounts,
  operations: Operations,
  limit: number,
  before: string | undefined,
): Promise<number> {
  const source = {
    findById: (id: string) => accounts.findUserById(id),
    listPage: (page: ConsoleUserPage) => accounts.listUserPage(page),
  };
  return printCliPage({ command: 'users', one: 'user', source, limit, before }, async (users) => {
    // The names of the units of this page's users only.
    const names = await operations.service.unitNames(users.flatMap((u) => u.unitIds ?? []));
    const now = Date.now();
    printTable(
      ['EMAIL', 'ROLE', 'UNITS', 'CONTENT', 'STATE', 'ID'],
      users.map((u) => [
        u.email,
        u.role,
        u.unitIds === null ? 'all' : u.unitIds.map((id) => names.get(id) ?? id).join(','),
        u.canReadBodies ? 'yes' : 'metadata only',
        userState(u, now),
        u.id,
      ]),
    );
  });
}

/**
 * `active`, `disabled`, `locked until …` (from everywhere) or `locked until … for some
 * addresses` (those that failed; a lock that has run out is no lock).
 */
function userState(user: ConsoleUser, now: number): string {
  if (user.disabledAt !== null) return 'disabled';
  return lockText(user, now) ?? 'active';
}

function lockText(user: ConsoleUser, now: number): string | null {
  const lock = lockOf(user, now);
  if (!lock) return null;
  const until = `locked until ${new Date(lock.until).toISOString()}`;
  return lock.scope === 'account' ? until : `${until} for some addresses`;
}

/** unlock, set-password, disable, enable, sign-out: each said in a line, and audited. */
async function onAUser(config: () => Config, action: OnAUser, email: string): Promise<number> {
  let password = '';
  if (action === 'set-password') {
    const read = await readNewPassword();
    if (read === null) {
      console.error(
        'tegami users: set-password needs the new password: set TEGAMI_NEW_PASSWORD, or run it on a terminal to type it',
      );
      return 64;
    }
    if (typeof read !== 'string') {
      console.error('tegami users: the two passwords typed differ; nothing changed');
      return 2;
    }
    password = read;
    // Refused before the database is opened, as a new user's is.
    try {
      checkNewPassword(password);
    } catch (error) {
      return reportOperationsError('users', error);
    }
  }
  const { database, close } = await openOperations(config(), { mustExist: true });
  try {
    const accounts = consoleAccounts(database);
    const user = await accounts.findUser(email);
    if (!user) {
      console.error(`tegami users: no user has the address ${email} (see tegami users list)`);
      return 2;
    }
    console.log(await act(accounts, action, user, password));
    return 0;
  } catch (error) {
    const code = reportOperationsError('users', error);
    // The last admin: refused as the state of the data, like a user that does not exist.
    return error instanceof OperationsError && error.kind === 'conflict' ? 2 : code;
  } finally {
    await close();
  }
}

async function act(
  accounts: ConsoleAccounts,
  action: OnAUser,
  user: ConsoleUser,
  password: string,
): Promise<string> {
  const sessions = (n: number) => `${n} session${n === 1 ? '' : 's'}`;
  const who = user.email;
  switch (action) {
    case 'unlock': {
      if (!(await accounts.unlock(cliActor(), user)))
        return `${who} was not locked; nothing changed.`;
      const lock = lockOf(user, Date.now());
      return [
        `Unlocked ${who}`,
        lock ? ` (it was locked until ${new Date(lock.until).toISOString()})` : '',
        '; its failed sign-ins are cleared',
        lock?.scope === 'client' ? ', from every address' : '',
        user.disabledAt !== null ? ', but it is still disabled' : '',
        '.',
      ].join('');
    }
    case 'set-password': {
      const ended = await accounts.setPassword(cliActor(), user, password);
      return `Set a new password for ${who}; ended ${sessions(ended)}, and unlocked it.`;
    }
    case 'disable': {
      const ended = await accounts.disable(cliActor(), user);
      return ended === null
        ? `${who} was already disabled; nothing changed.`
        : `Disabled ${who}; ended ${sessions(ended)}. It can no longer sign in (tegami users enable ${who} undoes this).`;
    }
    case 'enable':
      return (await accounts.enable(cliActor(), user))
        ? `Enabled ${who}; it can sign in again.`
        : `${who} was not disabled; nothing changed.`;
    case 'sign-out':
      return `Ended ${sessions(await accounts.signOutEverywhere(cliActor(), user))} of ${who}.`;
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
      limit: { type: 'string' },
      before: { type: 'string' },
    },
  });
}
