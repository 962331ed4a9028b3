import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SendGridProvider } from '../providers/sendgrid/sendgrid-provider.ts';
import {
  appliedMigrations,
  type DatabaseHandle,
  isPostgresUrl,
  openDatabase,
  pendingMigrations,
  redactUrl,
  sqlitePathFromUrl,
  type TablePrivileges,
  tablePrivileges,
  unknownMigrations,
} from '../store/index.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { describeUnknownVariable, unknownVariables } from './variables.ts';

/**
 * `tegami check`: what would keep Tegami from delivering mail, found before it piles up. Each
 * check reads only: no migration is applied, no mail is sent, no file is created.
 */

export interface CheckResult {
  ok: boolean;
  /** Worth a look, but no failure: shown as `warn` and leaves the exit code 0. */
  warning?: true;
  name: string;
  detail: string;
}

function reasonOf(error: unknown): string {
  const { message, code } = error as { message?: string; code?: string };
  return message || code || String(error);
}

/**
 * The database opens and every migration is applied; then whether its user may do what the
 * migrations of this release and the next need (checkSqliteFolder, describePrivileges).
 */
async function checkDatabase(config: Config): Promise<CheckResult[]> {
  const name = 'database';
  const where = redactUrl(config.databaseUrl);
  const postgres = isPostgresUrl(config.databaseUrl);
  if (!postgres) {
    const path = sqlitePathFromUrl(config.databaseUrl);
    // Opening a missing SQLite file would create it: say so instead.
    if (path !== ':memory:' && !existsSync(path)) {
      return [
        {
          ok: false,
          name,
          detail: `${where}: no such file; tegami migrate (or the first start) creates it`,
        },
        checkSqliteFolder(path),
      ];
    }
  }
  let database: ReturnType<typeof openDatabase> | null = null;
  try {
    database = openDatabase(config.databaseUrl, { poolSize: 1 });
    const opened = database;
    const migrations = await checkMigrations(opened, where).catch(
      (error: unknown): CheckResult => ({
        ok: false,
        name,
        detail: `cannot use ${where}: ${reasonOf(error)}`,
      }),
    );
    // Looked at whatever the migrations' state: missing rights fail the next migration too, and
    // may be why the migrations could not be read. A server that does not answer is said once.
    const permissions = postgres
      ? await tablePrivileges(opened.db).then(describePrivileges, () => null)
      : checkSqliteFolder(sqlitePathFromUrl(config.databaseUrl));
    return permissions ? [migrations, permissions] : [migrations];
  } catch (error) {
    const failed = { ok: false, name, detail: `cannot use ${where}: ${reasonOf(error)}` };
    return postgres ? [failed] : [failed, checkSqliteFolder(sqlitePathFromUrl(config.databaseUrl))];
  } finally {
    await database?.close().catch(() => {});
  }
}

async function checkMigrations(database: DatabaseHandle, where: string): Promise<CheckResult> {
  const name = 'database';
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
}

const PERMISSIONS = 'database permissions';

/**
 * SQLite writes the database file and, beside it, its -wal and -shm files, which it creates and
 * removes: the folder must be writable by the user Tegami runs as, not only the file. A folder
 * that does not exist yet is created by the first start, in the nearest folder that does.
 */
function checkSqliteFolder(path: string): CheckResult {
  if (path === ':memory:') return { ok: true, name: PERMISSIONS, detail: 'in memory: no files' };
  const file = resolve(path);
  const folder = dirname(file);
  const user = `this user (uid ${process.getuid?.() ?? '?'})`;
  const writable = (p: string) => {
    try {
      accessSync(p, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (!existsSync(folder)) {
    let parent = dirname(folder);
    while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
    return writable(parent)
      ? {
          ok: true,
          name: PERMISSIONS,
          detail: `${folder} does not exist yet; the first start creates it in ${parent}, which ${user} may write to`,
        }
      : {
          ok: false,
          name: PERMISSIONS,
          detail: `${folder} does not exist, and ${user} may not create it in ${parent}: create the folder and give it to the user Tegami runs as (mkdir, chown)`,
        };
  }
  const problems: string[] = [];
  if (!writable(folder)) {
    const what = existsSync(file)
      ? "the database's -wal and -shm files"
      : 'the database (and its -wal and -shm files)';
    problems.push(`${user} may not write to the folder ${folder}, where SQLite creates ${what}`);
  }
  if (existsSync(file) && statSync(file).isFile() && !writable(file)) {
    problems.push(`${user} may not write to ${file}`);
  }
  if (problems.length > 0) {
    return {
      ok: false,
      name: PERMISSIONS,
      detail: `${problems.join('; ')}: give the folder and its files to the user Tegami runs as (chown -R), or run Tegami as their owner`,
    };
  }
  return {
    ok: true,
    name: PERMISSIONS,
    detail: `${user} may write to ${folder} (the database and its -wal and -shm files)`,
  };
}

/** A name in SQL, quoted when PostgreSQL would not take it bare. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/**
 * Whether the migrations may run, and if not what is missing and what a DBA grants: the
 * remedies of docs/deploy.md (the user owns the database, or the schema of `?schema=`), or the
 * one privilege that is missing.
 */
function describePrivileges(p: TablePrivileges): CheckResult {
  const user = ident(p.user);
  const db = ident(p.database);
  const fail = (detail: string): CheckResult => ({
    ok: false,
    name: PERMISSIONS,
    detail: `${detail} (see docs/deploy.md)`,
  });
  if (p.schema === null) {
    return fail(
      `user ${p.user} has no schema to create tables in: no schema of its search_path (${p.search_path}) exists that it may use; a DBA creates one for it: CREATE SCHEMA tegami AUTHORIZATION ${user}; and adds ?schema=tegami to TEGAMI_DATABASE_URL`,
    );
  }
  const schema = ident(p.schema);
  if (!p.schemaExists) {
    // Only a `?schema=` can be missing: current_schema() names one that exists.
    if (p.createOnDatabase) {
      return {
        ok: true,
        name: PERMISSIONS,
        detail: `schema ${p.schema} does not exist yet; user ${p.user} may create it (CREATE on database ${p.database}), and the first start does`,
      };
    }
    return fail(
      `schema ${p.schema} (?schema=) does not exist, and user ${p.user} may not create it (no CREATE on database ${p.database}); a DBA creates it for the user: CREATE SCHEMA ${schema} AUTHORIZATION ${user};`,
    );
  }
  const missing = [...(p.usage ? [] : ['USAGE']), ...(p.create ? [] : ['CREATE'])];
  if (missing.length > 0) {
    const owner =
      p.configured || p.schema !== 'public'
        ? `makes the user the schema's owner (ALTER SCHEMA ${schema} OWNER TO ${user};)`
        : `makes the user the database's owner (ALTER DATABASE ${db} OWNER TO ${user};)`;
    return fail(
      `user ${p.user} may not create tables in schema ${p.schema} of database ${p.database}, which the migrations do (it lacks ${missing.join(' and ')} on the schema); a DBA ${owner}, or grants it: GRANT ${missing.join(', ')} ON SCHEMA ${schema} TO ${user};`,
    );
  }
  const notOwned = p.tables.filter((t) => !t.owned);
  if (notOwned.length > 0) {
    const owners = [...new Set(notOwned.map((t) => t.owner))].join(' or ');
    return fail(
      `user ${p.user} does not own Tegami's tables in schema ${p.schema} (${notOwned.map((t) => `${t.table} belongs to ${t.owner}`).join(', ')}), and only their owner may alter them, as the next upgrade's migrations do: run Tegami as ${owners}, or a DBA gives every Tegami table to the user (ALTER TABLE … OWNER TO ${user};)`,
    );
  }
  return {
    ok: true,
    name: PERMISSIONS,
    detail: `user ${p.user} may create tables in schema ${p.schema} of database ${p.database}${p.tables.length > 0 ? ", and owns Tegami's tables there" : ''}`,
  };
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

/**
 * Runs every check, in order; a bad configuration stops there (the others need it). TEGAMI_*
 * variables Tegami does not know follow the configuration's line as warnings: a misspelt name
 * leaves its setting at the default without failing anything.
 */
export async function runChecks(env: Record<string, string | undefined>): Promise<CheckResult[]> {
  const unknown: CheckResult[] = unknownVariables(env).map((variable) => ({
    ok: true,
    warning: true,
    name: 'configuration',
    detail: describeUnknownVariable(variable),
  }));
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [{ ok: false, name: 'configuration', detail: error.message }, ...unknown];
  }
  const results: CheckResult[] = [
    {
      ok: true,
      name: 'configuration',
      detail: `provider ${config.provider}, database ${redactUrl(config.databaseUrl)}, API on ${config.http.host}:${config.http.port}`,
    },
    ...unknown,
  ];
  results.push(...(await checkDatabase(config)));
  results.push(await checkProvider(config));
  return results;
}

export function formatCheck(result: CheckResult): string {
  const mark = !result.ok ? 'FAIL' : result.warning ? 'warn' : 'ok  ';
  return `${mark}  ${result.name}: ${result.detail}`;
}
