import { parseArgs } from 'node:util';
import { createApiKey, shownKeyPrefix } from './api-keys.ts';
import { runAuditCommand } from './cli/audit.ts';
import { auditKey, unitForNewKey, unitNamesOfKeys } from './cli/key-audit.ts';
import { runRecoverCommand } from './cli/recover.ts';
import { runUnitsCommand } from './cli/units.ts';
import { runUnsentCommand } from './cli/unsent.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { DatabaseUnavailableError, openAndMigrate, startService } from './service.ts';
import { SqlApiKeyStore } from './store/sql-api-key-store.ts';

const HELP = `Usage: tegami <command>

Commands:
  serve                 run the API and the delivery worker in one process (default)
  api                   run only the HTTP API
  worker                run only the delivery worker
  migrate               apply database migrations and exit
  keys create [--name N] [--unit U] [--admin]
                        create an API key of unit U (default: default) and print it
                        (shown once); --admin: it sees and acts on every unit
  keys list             list API keys (never the keys themselves)
  keys revoke <key-id>  revoke an API key
  units create <name>   create a business unit (hotel, restaurant, ...)
  units list            list business units
  unsent [filters]      counts of mail not sent (or not confirmed) yet, by reason
  recover [filters]     retry or cancel matching mail in bulk: dry run, confirm, progress
  audit [filters]       operator actions: who did what, when
  (each of these takes --help)
  simulator [options]   run a local SendGrid simulator (see: tegami simulator --help)
  help                  show this help

Configuration is read from TEGAMI_* environment variables; see docs/configuration.md.`;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(HELP);
    return 0;
  }
  switch (command) {
    // The simulator stands in for SendGrid; it reads no TEGAMI_* configuration.
    case 'simulator': {
      const { runSimulatorCommand } = await import('./simulator/index.ts');
      return runSimulatorCommand(rest);
    }
    // Operations commands read the configuration only after their flags (so --help needs none).
    case 'units':
      return runUnitsCommand(() => loadConfig(), rest);
    case 'unsent':
      return runUnsentCommand(() => loadConfig(), rest);
    case 'recover':
      return runRecoverCommand(() => loadConfig(), rest);
    case 'audit':
      return runAuditCommand(() => loadConfig(), rest);
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
    case 'api':
    case 'worker':
      return run(config, command);
    case 'migrate': {
      const { database, applied } = await openAndMigrate(config);
      await database.close();
      console.log(
        applied.length > 0 ? `Applied: ${applied.join(', ')}` : 'Database is up to date.',
      );
      return 0;
    }
    case 'keys':
      return keys(config, rest);

    default:
      console.error(`Unknown command "${command}".\n\n${HELP}`);
      return 2;
  }
}

async function run(config: ReturnType<typeof loadConfig>, role: 'serve' | 'api' | 'worker') {
  const logger = createLogger(config.logLevel);
  // Listen for signals before anything starts: a SIGTERM that arrives while starting up must
  // stop the service cleanly, not kill the process.
  let signalled: string | null = null;
  let onSignal: (signal: string) => void = (signal) => {
    signalled = signal;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => onSignal(signal));

  const service = await startService({
    config,
    logger,
    api: role !== 'worker',
    worker: role !== 'api',
    announce: (line) => console.log(line),
  });
  if (service.url) {
    console.log(`Tegami ${role} listening on ${service.url} (provider: ${config.provider})`);
  } else {
    console.log(`Tegami worker running (provider: ${config.provider})`);
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`${signal}: stopping; no new work is claimed, in-flight sends finish.`);
      logger.info({ signal }, 'stopping');
      service.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'stopping failed');
        resolve();
      });
    };
    if (signalled) onSignal(signalled);
  });
  console.log('Stopped.');
  return 0;
}

async function keys(config: ReturnType<typeof loadConfig>, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const { database } = await openAndMigrate(config);
  const store = new SqlApiKeyStore(database);
  try {
    if (action === 'create') {
      const { values } = parseArgs({
        args: rest,
        options: {
          name: { type: 'string' },
          unit: { type: 'string' },
          admin: { type: 'boolean' },
        },
      });
      const unit = await unitForNewKey(database, values.unit);
      if ('error' in unit) {
        console.error(unit.error);
        return 1;
      }
      const { key, record } = await createApiKey(store, values.name ?? 'unnamed', Date.now(), {
        unitId: unit.unitId,
        admin: values.admin === true,
      });
      await auditKey(database, 'key.create', record);
      console.log(
        `Created ${record.id} (${record.name}, unit ${unit.name}${record.admin ? ', admin: every unit' : ''}). The key is shown only this once:\n${key}`,
      );
      return 0;
    }
    if (action === 'list') {
      const all = await store.list();
      const units = await unitNamesOfKeys(database, all);
      for (const k of all) {
        const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
        const scope = `${units.get(k.unitId) ?? k.unitId}${k.admin ? ' (admin)' : ''}`;
        console.log(
          `${k.id}\t${shownKeyPrefix(k.prefix)}…\t${state}\t${new Date(k.createdAt).toISOString()}\t${scope}\t${k.name}`,
        );
      }
      return 0;
    }
    if (action === 'revoke' && rest[0]) {
      if (!(await store.revoke(rest[0], Date.now()))) {
        console.error(`No API key with id ${rest[0]} (see: tegami keys list).`);
        return 1;
      }
      const revoked = await store.findById(rest[0]);
      if (revoked) await auditKey(database, 'key.revoke', revoked);
      console.log(`Revoked ${rest[0]}.`);
      return 0;
    }
    console.error(
      'Usage: tegami keys create [--name N] [--unit U] [--admin] | keys list | keys revoke <key-id>',
    );
    return 2;
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exitCode = 78; // EX_CONFIG
    } else if (error instanceof DatabaseUnavailableError) {
      console.error(`Database error: ${error.message}`);
      process.exitCode = 69; // EX_UNAVAILABLE
    } else {
      console.error(`tegami: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  },
);
