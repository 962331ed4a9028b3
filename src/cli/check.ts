import { existsSync } from 'node:fs';
import { SendGridProvider } from '../providers/sendgrid/sendgrid-provider.ts';
import {
  appliedMigrations,
  isPostgresUrl,
  openDatabase,
  pendingMigrations,
  redactUrl,
  sqlitePathFromUrl,
  unknownMigrations,
} from '../store/index.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';

/**
 * `tegami check`: what would keep Tegami from delivering mail, found before it piles up. Each
 * check reads only: no migration is applied, no mail is sent, no file is created.
 */

export interface CheckResult {
  ok: boolean;
  name: string;
  detail: string;
}

function reasonOf(error: unknown): string {
  const { message, code } = error as { message?: string; code?: string };
  return message || code || String(error);
}

async function checkDatabase(config: Config): Promise<CheckResult> {
  const name = 'database';
  const where = redactUrl(config.databaseUrl);
  if (!isPostgresUrl(config.databaseUrl)) {
    const path = sqlitePathFromUrl(config.databaseUrl);
    // Opening a missing SQLite file would create it: say so instead.
    if (path !== ':memory:' && !existsSync(path)) {
      return {
        ok: false,
        name,
        detail: `${where}: no such file; tegami migrate (or the first start) creates it`,
      };
    }
  }
  let database: ReturnType<typeof openDatabase> | null = null;
  try {
    database = openDatabase(config.databaseUrl, { poolSize: 1 });
    const newer = unknownMigrations(await appliedMigrations(database.db));
    if (newer.length > 0) {
      return {
        ok: false,
        name,
        detail: `${where} was migrated by a newer Tegami release (${newer.join(', ')}): run that release, or restore the backup taken before the upgrade`,
      };
    }
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) {
      return {
        ok: false,
        name,
        detail: `${where}: ${pending.length} migration(s) not applied (${pending.join(', ')}); run tegami migrate`,
      };
    }
    return { ok: true, name, detail: `${where} opens; every migration is applied` };
  } catch (error) {
    return { ok: false, name, detail: `cannot use ${where}: ${reasonOf(error)}` };
  } finally {
    await database?.close().catch(() => {});
  }
}

async function checkProvider(config: Config): Promise<CheckResult> {
  const name = `provider ${config.provider}`;
  if (!config.sendgrid) {
    return { ok: true, name, detail: 'keeps mail in the database; nothing to reach' };
  }
  const provider = new SendGridProvider(config.sendgrid);
  try {
    const check = await provider.verify();
    const detail = `${config.sendgrid.baseUrl}: ${check.detail}`;
    return { ok: check.result === 'valid', name, detail };
  } finally {
    await provider.close();
  }
}

/** Runs every check, in order; a bad configuration stops there (the others need it). */
export async function runChecks(env: Record<string, string | undefined>): Promise<CheckResult[]> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [{ ok: false, name: 'configuration', detail: error.message }];
  }
  const results: CheckResult[] = [
    {
      ok: true,
      name: 'configuration',
      detail: `provider ${config.provider}, database ${redactUrl(config.databaseUrl)}, API on ${config.http.host}:${config.http.port}`,
    },
  ];
  results.push(await checkDatabase(config));
  results.push(await checkProvider(config));
  return results;
}

export function formatCheck(result: CheckResult): string {
  return `${result.ok ? 'ok  ' : 'FAIL'}  ${result.name}: ${result.detail}`;
}
