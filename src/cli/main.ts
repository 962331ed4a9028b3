import { parseArgs } from 'node:util';
import {
  apiKeyNameProblem,
  BOOTSTRAP_KEY_NAME,
  createApiKey,
  revokeApiKey,
} from '../domain/api-keys.ts';
import { isPriority } from '../domain/priority.ts';
import { createLogger } from '../ops/logger.ts';
import { isPostgresUrl, redactUrl, SqlApiKeyStore } from '../store/index.ts';
import { runAlertsCommand } from './alerts.ts';
import { runAuditCommand } from './audit.ts';
import { backup } from './backup.ts';
import { formatCheck, runChecks } from './check.ts';
import {
  COMMANDS,
  type CommandSpec,
  commandUsage,
  findCommand,
  mainUsage,
  parseOptions,
} from './commands.ts';
import { cliActor, describeParseError } from './common.ts';
import {
  type Config,
  ConfigError,
  configuredSecrets,
  loadConfig,
  sqliteFsyncFor,
} from './config.ts';
import { unitForNewKey } from './key-audit.ts';
import { type KeysListOptions, keysListProblem, printKeyPage } from './keys-list.ts';
import { runRecoverCommand } from './recover.ts';
import { runRecoveriesCommand } from './recoveries.ts';
import { startServeOnThreads } from './serve-threads.ts';
import { runUnitsCommand } from './units.ts';
import { runUnsentCommand } from './unsent.ts';
import { runUsersCommand } from './users.ts';
import { describeUnknownVariable, type UnknownVariable, unknownVariables } from './variables.ts';
import {
  DatabaseUnavailableError,
  ListenError,
  openAndMigrate,
  type RunningService,
  StartAborted,
  startService,
} from './wire.ts';

/** Exit codes from sysexits.h, so supervisors and scripts can tell the causes apart. */
const EX_USAGE = 64;
const EX_UNAVAILABLE = 69;
const EX_CONFIG = 78;

/**
 * After a signal while starting, the longest wait for the start to wind down. Past it the process
 * exits anyway: nothing was accepted that needs finishing.
 */
const ABORTED_START_EXIT_MS = 10_000;
/** After a failure, the longest wait for handles still open to close before exiting. */
const FAILURE_EXIT_MS = 2_000;

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses a command's arguments strictly: unknown options and extra arguments are errors. */
function parse(spec: CommandSpec, args: string[]): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({
      args,
      options: parseOptions(spec),
      strict: true,
      allowPositionals: true,
    }) as Parsed;
  } catch (error) {
    throw new UsageError(describeParseError(error), commandUsage(spec));
  }
  if (parsed.values.help) return parsed;
  const extra = parsed.positionals[spec.positionals.length];
  if (extra !== undefined) {
    throw new UsageError(`unexpected argument "${extra}"`, commandUsage(spec));
  }
  return parsed;
}

/** Commands with filter options of their own (src/cli/): each parses its arguments itself. */
const OPERATIONS_COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  units: (args) => runUnitsCommand(() => loadConfig(), args),
  unsent: (args) => runUnsentCommand(() => loadConfig(), args),
  recover: (args) => runRecoverCommand(() => loadConfig(), args),
  recoveries: (args) => runRecoveriesCommand(() => loadConfig(), args),
  audit: (args) => runAuditCommand(() => loadConfig(), args),
  alerts: (args) => runAlertsCommand(() => loadConfig(), args),
  users: (args) => runUsersCommand(() => loadConfig(), args),
};

function keysUsage(): string {
  const keys = COMMANDS.filter((c) => c.name.startsWith('keys '));
  return `Usage:\n${keys.map((c) => `  ${c.synopsis}`).join('\n')}\n\nEach answers --help.`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h') {
    console.log(mainUsage());
    return 0;
  }
  if (first === 'help') {
    const spec = parse(findCommand('help') as CommandSpec, rest);
    const topic = spec.positionals.join(' ');
    if (!topic || spec.values.help) {
      console.log(
        spec.values.help ? commandUsage(findCommand('help') as CommandSpec) : mainUsage(),
      );
      return 0;
    }
    if (topic === 'keys') {
      console.log(keysUsage());
      return 0;
    }
    if (topic === 'simulator') return simulator(['--help']);
    const operations = OPERATIONS_COMMANDS[topic];
    if (operations) return operations(['--help']);
    const about = findCommand(topic);
    if (!about) throw new UsageError(`unknown command "${topic}"`, mainUsage());
    console.log(commandUsage(about));
    return 0;
  }
  if (first?.startsWith('-')) {
    throw new UsageError(`unknown option "${first}" (the command comes first)`, mainUsage());
  }
  // The simulator stands in for SendGrid; it reads no TEGAMI_* configuration.
  if (first === 'simulator') return simulator(rest);
  // Operations commands parse their own filters and read the configuration only after them (so
  // --help needs none).
  const operations = first ? OPERATIONS_COMMANDS[first] : undefined;
  if (operations) return operations(rest);

  let spec: CommandSpec | undefined;
  let args = rest;
  if (first === 'keys') {
    const [action, ...more] = rest;
    if (action === '--help' || action === '-h') {
      console.log(keysUsage());
      return 0;
    }
    if (action === undefined) throw new UsageError('a keys command is missing', keysUsage());
    spec = findCommand(`keys ${action}`);
    if (!spec) throw new UsageError(`unknown keys command "${action}"`, keysUsage());
    args = more;
  } else {
    spec = findCommand(first ?? 'serve');
    if (!spec) throw new UsageError(`unknown command "${first}"`, mainUsage());
  }
  const parsed = parse(spec, args);
  // --help prints and does nothing else: no configuration read, no database touched.
  if (parsed.values.help) {
    console.log(commandUsage(spec));
    return 0;
  }

  // It reports a bad configuration as one of its checks, instead of stopping at it.
  if (spec.name === 'check') return check();

  // A misspelt variable is otherwise ignored without a word, by every command that reads the
  // configuration (the database's URL under a wrong name: `tegami migrate` made the default
  // file). Said before the configuration is read: a required variable under a wrong name is what
  // stops it.
  const unknown = unknownVariables(process.env);
  for (const variable of unknown) {
    console.error(`tegami ${spec.name}: warning: ${describeUnknownVariable(variable)}`);
  }
  const config = loadConfig();
  switch (spec.name) {
    case 'serve':
    case 'api':
    case 'worker':
      return run(config, spec.name, unknown);
    case 'migrate': {
      const { database, applied } = await openAndMigrate(config, undefined, {
        applicationName: 'tegami migrate',
      });
      await database.close();
      console.log(
        applied.length > 0 ? `Applied: ${applied.join(', ')}` : 'Database is up to date.',
      );
      // Which database: a URL left unset migrates (or creates) the default file here.
      const where = isPostgresUrl(config.databaseUrl)
        ? redactUrl(config.databaseUrl)
        : config.databaseUrl;
      console.log(`(database: ${where})`);
      return 0;
    }
    case 'keys create':
    case 'keys list':
    case 'keys revoke':
      return keys(config, spec.name, parsed);
    case 'backup': {
      const [file] = parsed.positionals;
      if (!file) throw new UsageError('the backup file is missing', commandUsage(spec));
      return backup(config, file);
    }
  }
  throw new UsageError(`unknown command "${spec.name}"`, mainUsage());
}

async function check(): Promise<number> {
  const results = await runChecks(process.env);
  for (const result of results) console.log(formatCheck(result));
  return results.every((r) => r.ok) ? 0 : 1;
}

async function simulator(args: string[]): Promise<number> {
  const { runSimulatorCommand } = await import('../simulator/index.ts');
  return runSimulatorCommand(args);
}

async function run(
  config: Config,
  role: 'serve' | 'api' | 'worker',
  unknown: UnknownVariable[],
): Promise<number> {
  const logger = createLogger(config.logLevel, configuredSecrets(config));
  // Said on stderr already; in the log too, where a log agent or an alert looks.
  for (const variable of unknown) {
    logger.warn(
      { variable: variable.name, suggestions: variable.suggestions },
      describeUnknownVariable(variable),
    );
  }
  // Listen for signals before anything starts: a signal while starting gives up the start and
  // releases what was opened; once running, it stops the service cleanly, after a drain if one
  // is configured. A second signal cuts a drain short; otherwise it is ignored (the stop is
  // already under way).
  const starting = new AbortController();
  let service: RunningService | null = null;
  let stopRequested: string | null = null;
  let stopRunning: (() => void) | null = null;
  let endDrain: (() => void) | null = null;
  /** The exit of a start that does not wind down after a signal; cleared once the start is over. */
  let startWindDown: NodeJS.Timeout | null = null;
  const onSignal = (signal: string) => {
    if (stopRequested) {
      endDrain?.();
      return;
    }
    stopRequested = signal;
    if (service) {
      stopRunning?.();
      return;
    }
    console.log(`${signal} while starting: stopping.`);
    logger.info({ signal }, 'stopping while starting');
    starting.abort();
    startWindDown = setTimeout(() => {
      console.error(`tegami ${role}: the start did not wind down within 10 s; exiting.`);
      process.exit(1);
    }, ABORTED_START_EXIT_MS).unref();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => onSignal(signal));

  try {
    const options = {
      config,
      logger,
      announce: (line: string) => console.log(line),
      signal: starting.signal,
    };
    // A lost thread means nothing would be stored or sent any more: exit so a supervisor
    // starts the process again. Accepted mail is in the database; leases free what it held.
    const threadLost = (what: string) => (reason: string) => {
      console.error(`tegami ${role}: ${reason}; exiting.`);
      logger.fatal({ reason }, `${what} thread lost`);
      process.exit(1);
    };
    const twoThreads = role === 'serve' && config.serveOnTwoThreads;
    // SendGrid's calls on a thread of their own where the worker shares its event loop with the
    // API (`auto`), or wherever a worker runs here (`on`); not on serve's delivery thread.
    const providerOnThread =
      !twoThreads &&
      role !== 'api' &&
      (config.providerThread === 'on' || (config.providerThread === 'auto' && role === 'serve'));
    service = twoThreads
      ? await startServeOnThreads(options, threadLost('delivery'), {
          submitOnThread: !isPostgresUrl(config.databaseUrl),
        })
      : await startService({
          ...options,
          api: role !== 'worker',
          worker: role !== 'api',
          fsync: sqliteFsyncFor(config, role === 'serve'),
          ...(providerOnThread ? { providerThread: { onLost: threadLost('provider') } } : {}),
        });
  } catch (error) {
    if (error instanceof StartAborted) {
      console.log('Stopped.');
      // A database connection still being opened cannot be cancelled; do not wait for its
      // timeout. Nothing was accepted that needs finishing.
      setTimeout(() => process.exit(0), 100).unref();
      return 0;
    }
    throw error;
  }
  // A start that ran to its end although a signal came (its last steps do not look at it, e.g.
  // serve's second thread): the stop below follows, with its drain, which may take longer than
  // the limit for winding down a start, and must not be cut by it.
  if (startWindDown) clearTimeout(startWindDown);
  const running = service;
  if (running.url) {
    console.log(`Tegami ${role} listening on ${running.url} (provider: ${config.provider})`);
    if (running.smtp) {
      console.log(
        `SMTP submission on ${running.smtp.address} (${config.smtp?.tls ? (config.smtp.implicitTls ? 'TLS' : 'STARTTLS') : 'no TLS'}; an API key as the password)`,
      );
    }
  } else {
    console.log(`Tegami worker running (provider: ${config.provider})`);
  }

  await new Promise<void>((resolve) => {
    const stop = () => {
      console.log(`${stopRequested}: stopping; no new work is claimed, in-flight sends finish.`);
      logger.info({ signal: stopRequested }, 'stopping');
      running.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'stopping failed');
        resolve();
      });
    };
    stopRunning = () => {
      // Only a process that answers HTTP has a load balancer to leave first.
      if (config.shutdownDrainMs === 0 || !running.url) return stop();
      const seconds = config.shutdownDrainMs / 1000;
      console.log(
        `${stopRequested}: draining for ${seconds} s (TEGAMI_SHUTDOWN_DRAIN_S): /readyz answers 503, requests are still served; a second signal stops at once.`,
      );
      logger.info({ signal: stopRequested, drainSeconds: seconds }, 'draining before the stop');
      running.drain();
      const timer = setTimeout(() => endDrain?.(), config.shutdownDrainMs);
      endDrain = () => {
        endDrain = null;
        clearTimeout(timer);
        stop();
      };
    };
    // A signal that came in the last moments of the start.
    if (stopRequested) stopRunning();
  });
  console.log('Stopped.');
  return 0;
}

async function keys(config: Config, action: string, parsed: Parsed): Promise<number> {
  const keyId = parsed.positionals[0];
  const usage = () => commandUsage(findCommand(action) as CommandSpec);
  if (action === 'keys revoke' && !keyId) throw new UsageError('the key id is missing', usage());
  // Checked before the database is opened: a refused command changes nothing.
  const name = typeof parsed.values.name === 'string' ? parsed.values.name : 'unnamed';
  const given = parsed.values.priority;
  const priority = typeof given === 'string' && isPriority(given) ? given : null;
  const listOptions: KeysListOptions = {
    limit: typeof parsed.values.limit === 'string' ? parsed.values.limit : undefined,
    before: typeof parsed.values.before === 'string' ? parsed.values.before : undefined,
  };
  if (action === 'keys list') {
    const problem = keysListProblem(listOptions);
    if (problem) throw new UsageError(problem, usage());
  }
  if (action === 'keys create') {
    const problem = apiKeyNameProblem(name);
    if (problem) throw new UsageError(`--name ${problem}`, usage());
    if (given !== undefined && priority === null) {
      throw new UsageError(
        `--priority must be high, normal or bulk, not ${JSON.stringify(given)}`,
        usage(),
      );
    }
  }
  // Only `keys create` may start a fresh database; list and revoke need the keys that are there.
  const { database } = await openAndMigrate(config, undefined, {
    mustExist: action !== 'keys create',
    upgrade: 'refuse',
  });
  const store = new SqlApiKeyStore(database);
  try {
    if (action === 'keys create') {
      const unitName = typeof parsed.values.unit === 'string' ? parsed.values.unit : undefined;
      const unit = await unitForNewKey(database, unitName);
      // Exit 2, as every command that takes --unit answers a unit that does not exist: a
      // well-formed value, refused for what the database holds. 64 is a command line wrong in
      // itself; 1, a key or recovery to act on that is not there, or a failure.
      if ('error' in unit) {
        console.error(unit.error);
        return 2;
      }
      const { key, record } = await createApiKey(store, name, Date.now(), {
        unitId: unit.unitId,
        admin: parsed.values.admin === true,
        defaultPriority: priority,
        actor: cliActor(),
      });
      console.log(
        `Created ${record.id} (${record.name}, unit ${unit.name}${record.admin ? ', admin: every unit' : ''}${record.defaultPriority ? `, priority ${record.defaultPriority}` : ''}). The key is shown only this once:\n${key}`,
      );
      return 0;
    }
    if (action === 'keys list') return await printKeyPage(database, store, listOptions);
    const revoked = await store.findById(keyId as string);
    if (!revoked) {
      console.error(`No API key with id ${keyId} (see tegami keys list).`);
      return 1;
    }
    // True only for the call that revoked it: a key revoked already is not recorded again.
    if (!(await revokeApiKey(store, revoked, cliActor()))) {
      const existing = await store.findById(revoked.id);
      const when = existing?.revokedAt ? ` at ${new Date(existing.revokedAt).toISOString()}` : '';
      console.log(`${keyId} was already revoked${when}; nothing changed.`);
      return 0;
    }
    console.log(`Revoked ${keyId}.`);
    if (revoked.name === BOOTSTRAP_KEY_NAME) {
      // A start makes it active again (and records key.reactivate) while the variable names it.
      console.log(
        'It is the key from TEGAMI_BOOTSTRAP_API_KEY: the next start makes it active again while that variable still names it. Remove the variable (or change it) on every process.',
      );
    }
    return 0;
  } finally {
    await database.close();
  }
}

/** One clear line for each way a command can fail, and the exit code that goes with it. */
function report(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`tegami: ${error.message}\n\n${error.usage}`);
    return EX_USAGE;
  }
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    return EX_CONFIG;
  }
  if (error instanceof DatabaseUnavailableError) {
    console.error(`Database error: ${error.message}`);
    return EX_UNAVAILABLE;
  }
  if (error instanceof ListenError) {
    console.error(`Cannot start: ${error.message}`);
    return EX_UNAVAILABLE;
  }
  console.error(`tegami: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

// A reader that stops early (`tegami audit | head`) closes the pipe: a command that prints a
// listing then stops quietly, as other Unix tools do, instead of failing with EPIPE. For the
// long-running commands stdout is a log: a line that cannot be written (a closed pipe, a full
// disk) is lost, and the service goes on (their logger counts such lines for /metrics).
if (['serve', 'api', 'worker', 'simulator'].includes(process.argv[2] ?? '')) {
  process.stdout.on('error', () => {});
} else if (process.argv[2] !== undefined) {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = report(error);
    // What failed was released; should anything still hold the event loop, do not hang on it:
    // a supervisor restarts a process that exits, not one that hangs.
    setTimeout(() => process.exit(), FAILURE_EXIT_MS).unref();
  },
);
