import type { ParseArgsConfig } from 'node:util';
import { FILTER_OPTIONS } from './filter-flags.ts';

/**
 * The `tegami` commands, their options and their help texts, in one table: `src/cli.ts` parses
 * with it (node:util parseArgs) and the docs test checks README.md against it. Importing this
 * module runs nothing.
 */

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  /** `serve`, `keys create`, ... */
  name: string;
  /** `tegami keys revoke <key-id>` */
  synopsis: string;
  summary: string;
  /** Shown under the synopsis by `--help`. */
  description: string;
  /**
   * Options besides `-h, --help`, with their help lines. The operations commands (units, unsent,
   * recover, recoveries, audit) parse their own flags in src/cli/; their options are listed here for the help
   * overview and the docs test.
   */
  options: Record<string, { type: 'string' | 'boolean'; value?: string; help: string }>;
  /** Names of the positional arguments it takes, in order; none when empty. */
  positionals: string[];
}

/** The message filters' flags (filter-flags.ts), shared by `unsent` and `recover`. */
const FILTERS: CommandSpec['options'] = Object.fromEntries(
  Object.keys(FILTER_OPTIONS).map((name) => [name, { type: 'string', help: 'filter' }]),
);

const CONFIGURATION = `Configuration comes from TEGAMI_* environment variables (docs/configuration.md), e.g.
TEGAMI_DATABASE_URL, TEGAMI_HTTP_HOST, TEGAMI_HTTP_PORT, TEGAMI_PROVIDER.`;

export const COMMANDS: CommandSpec[] = [
  {
    name: 'serve',
    synopsis: 'tegami serve',
    summary: 'run the API and the delivery worker in one process (the default)',
    description: `Runs the HTTP API and the delivery worker in one process until SIGTERM or SIGINT.
Applies database migrations first. On the first start without API keys (and without
TEGAMI_BOOTSTRAP_API_KEY) it creates one and prints it once.

${CONFIGURATION}`,
    options: {},
    positionals: [],
  },
  {
    name: 'api',
    synopsis: 'tegami api',
    summary: 'run only the HTTP API',
    description: `Runs only the HTTP API until SIGTERM or SIGINT. Applies database migrations first.

${CONFIGURATION}`,
    options: {},
    positionals: [],
  },
  {
    name: 'worker',
    synopsis: 'tegami worker',
    summary: 'run only the delivery worker',
    description: `Runs only the delivery worker (and the status webhook sender) until SIGTERM or SIGINT.
Applies database migrations first.

${CONFIGURATION}`,
    options: {},
    positionals: [],
  },
  {
    name: 'migrate',
    synopsis: 'tegami migrate',
    summary: 'apply database migrations and exit',
    description: `Applies the database migrations that are not applied yet, and exits.

${CONFIGURATION}`,
    options: {},
    positionals: [],
  },
  {
    name: 'check',
    synopsis: 'tegami check',
    summary: 'check the configuration, the database and the provider; exit 1 on a problem',
    description: `Checks, one line each: the configuration (its line names the provider, the database and
the address the API would listen on; no port is opened); the database (it opens, and every
migration is applied; nothing is changed); the database's permissions (SQLite: this user may
write to the database's folder; PostgreSQL: the user may create tables in Tegami's schema and
owns the tables there, or what a DBA must grant); the provider (SendGrid: reachable, and the
API key has the mail.send permission). A TEGAMI_* variable Tegami does not know (misspelt, so
ignored) adds a warn line naming the one it may have meant. Exits 0 when every check passes, 1
otherwise.

${CONFIGURATION}`,
    options: {},
    positionals: [],
  },
  {
    name: 'backup',
    synopsis: 'tegami backup <file>',
    summary: 'copy the SQLite database to a new file, consistently, while Tegami runs',
    description: `Copies the SQLite database (TEGAMI_DATABASE_URL) to <file>, which must not exist: the
database as it was at one commit, the WAL's commits included, while the service goes on
writing. The copy is one file (no -wal beside it) and passed SQLite's integrity check; an
interrupted backup leaves only <file>.partial-<pid>. Prints the file, its size and how many
messages it holds. Changes nothing in the database; run it as the user the service runs as (a
reader may create the database's -wal and -shm files when the service is stopped). On
PostgreSQL, use pg_dump (docs/runbook.md, "Backups").

${CONFIGURATION}`,
    options: {},
    positionals: ['file'],
  },
  {
    name: 'keys create',
    synopsis: 'tegami keys create [--name N] [--unit U] [--admin] [--priority P]',
    summary: 'create an API key of a unit and print it (shown once)',
    description:
      'Creates an API key and prints it. It is shown only this once. The key belongs to one business\nunit (default: the unit named "default") and sees and acts on that unit only; an admin key\nsees and acts on every unit.',
    options: {
      name: { type: 'string', value: 'N', help: 'a name for the key (default "unnamed")' },
      unit: {
        type: 'string',
        value: 'U',
        help: 'the business unit of the key (default "default")',
      },
      admin: { type: 'boolean', help: 'an admin key: every unit' },
      priority: {
        type: 'string',
        value: 'P',
        help: "high, normal or bulk: the priority of its mail that sets none (default: the unit's)",
      },
    },
    positionals: [],
  },
  {
    name: 'keys list',
    synopsis: 'tegami keys list [--limit N] [--before ID]',
    summary: 'list API keys, newest first, 50 at a time (never the keys themselves)',
    description: `Lists API keys, revoked ones too, one per line: id, prefix, state, creation time, unit,
name. Never the keys themselves. Newest first, 50 at a time, as the console's API keys page.
When older keys remain, it says on standard error how to list them: the same command with
--before the last id shown.`,
    options: {
      limit: { type: 'string', value: 'N', help: 'at most N keys (1 to 500, default 50)' },
      before: {
        type: 'string',
        value: 'ID',
        help: 'the keys created before the key ID (the last id of the page before)',
      },
    },
    positionals: [],
  },
  {
    name: 'keys revoke',
    synopsis: 'tegami keys revoke <key-id>',
    summary: 'revoke an API key',
    description: 'Revokes an API key (see tegami keys list for ids). Requests with it get 401.',
    options: {},
    positionals: ['key-id'],
  },
  {
    name: 'units',
    synopsis: 'tegami units create <name>',
    summary: 'create business units (hotel, restaurant, ...); units list lists them',
    description: 'Business units; see tegami units --help.',
    options: {},
    positionals: [],
  },
  {
    name: 'users',
    synopsis: 'tegami users create --email E [--role R] [--unit U ...] [--no-bodies]',
    summary: 'console users: create, list, unlock, set-password, disable, enable, sign-out',
    description: 'Console users; see tegami users --help.',
    options: {
      email: { type: 'string', help: "the user's e-mail address" },
      role: { type: 'string', help: 'admin, operator or viewer' },
      unit: { type: 'string', help: 'a unit the user sees (repeatable)' },
      'no-bodies': { type: 'boolean', help: 'metadata only, never message content' },
      limit: { type: 'string', help: 'list: how many users (default 50)' },
      before: { type: 'string', help: 'list: the users created before this user id' },
    },
    positionals: [],
  },
  {
    name: 'unsent',
    synopsis: 'tegami unsent [filters] [--json]',
    summary: 'counts of mail not sent (or not confirmed) yet, by reason',
    description: 'The unsent-mail summary; see tegami unsent --help.',
    options: {
      ...FILTERS,
      json: { type: 'boolean', help: 'print JSON' },
    },
    positionals: [],
  },
  {
    name: 'recover',
    synopsis: 'tegami recover [filters] [--action retry|cancel] [--rate N] [--dry-run] [--yes]',
    summary: 'retry or cancel matching mail in bulk: dry run, confirm, progress',
    description: 'Bulk recovery; see tegami recover --help.',
    options: {
      ...FILTERS,
      action: { type: 'string', help: 'retry or cancel' },
      rate: { type: 'string', help: 'messages per second' },
      'dry-run': { type: 'boolean', help: 'count only' },
      yes: { type: 'boolean', help: 'do not ask' },
    },
    positionals: [],
  },
  {
    name: 'recoveries',
    synopsis: 'tegami recoveries list [--limit N] [--json]',
    summary: 'bulk recoveries: list them, or show one and what became of the mail it requeued',
    description: 'Bulk recoveries; see tegami recoveries --help.',
    options: {
      limit: { type: 'string', help: 'how many' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    positionals: [],
  },
  {
    name: 'audit',
    synopsis:
      'tegami audit [--actor A] [--action A] [--unit U] [--since T] [--until T] [--limit N] [--json]',
    summary: 'operator actions: who did what, when',
    description: 'The audit log; see tegami audit --help.',
    options: {
      actor: { type: 'string', help: 'filter' },
      action: { type: 'string', help: 'filter' },
      unit: { type: 'string', help: 'filter' },
      since: { type: 'string', help: 'filter' },
      until: { type: 'string', help: 'filter' },
      limit: { type: 'string', help: 'how many' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    positionals: [],
  },
  {
    name: 'alerts',
    synopsis: 'tegami alerts [--state firing|resolved] [--unit U] [--limit N] [--json]',
    summary: 'the built-in alerts, firing and past',
    description: 'The built-in alerts; see tegami alerts --help.',
    options: {
      state: { type: 'string', help: 'filter' },
      unit: { type: 'string', help: 'filter' },
      limit: { type: 'string', help: 'how many' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    positionals: [],
  },
  {
    name: 'alerts test',
    synopsis: 'tegami alerts test',
    summary: 'send a test notification to every alert destination',
    description:
      'Sends a test notification to every configured destination and says which answered.',
    options: {},
    positionals: [],
  },
  {
    name: 'simulator',
    synopsis: 'tegami simulator [options]',
    summary: 'run a local SendGrid simulator (see tegami simulator --help)',
    description: 'A local SendGrid; its options are listed by tegami simulator --help.',
    options: {},
    positionals: [],
  },
  {
    name: 'help',
    synopsis: 'tegami help [command]',
    summary: 'show this help, or the help of a command',
    description: 'Shows the commands, or the help of one command.',
    options: {},
    positionals: ['command'],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The parseArgs options of a command: its own plus `-h, --help`. */
export function parseOptions(spec: CommandSpec): Options {
  const options: Options = { help: { type: 'boolean', short: 'h' } };
  for (const [name, option] of Object.entries(spec.options)) options[name] = { type: option.type };
  return options;
}

export function commandUsage(spec: CommandSpec): string {
  const rows = [
    ...Object.entries(spec.options).map(([name, o]) => [
      `--${name}${o.value ? ` ${o.value}` : ''}`,
      o.help,
    ]),
    ['-h, --help', 'show this help and exit'],
  ];
  const width = Math.max(...rows.map(([flag]) => (flag ?? '').length)) + 2;
  const lines = rows.map(([flag, help]) => `  ${(flag ?? '').padEnd(width)}${help}`);
  return `Usage: ${spec.synopsis}\n\n${spec.description}\n\nOptions:\n${lines.join('\n')}`;
}

export function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.synopsis.length)) - 'tegami '.length + 2;
  const lines = COMMANDS.map(
    (c) => `  ${c.synopsis.slice('tegami '.length).padEnd(width)}${c.summary}`,
  );
  return `Usage: tegami <command> [options]

Commands:
${lines.join('\n')}

Every command answers -h or --help.
${CONFIGURATION}`;
}
