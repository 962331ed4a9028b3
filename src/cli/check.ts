import { accessSync, constants, existsSync, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { count } from '../domain/count-words.ts';
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
      detail: `${where}: ${count(pending.length, 'migration')} not applied (${pending.join(', ')}); run tegami migrate`,
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
    const refused = cannotCreateIn(parent);
    return refused === null
      ? {
          ok: true,
          name: PERMISSIONS,
          detail: `${folder} does not exist yet; the first start creates it in ${parent}, where ${user} may create folders (one was made and removed)`,
        }
      : {
          ok: false,
          name: PERMISSIONS,
          detail: `${folder} does not exist, and ${user} may not create it in ${parent} (making a folder there failed: ${refused}): create the folder and give it to the user Tegami runs as (mkdir, chown), or name a database in another folder`,
        };
  }
  const problems: string[] = [];
  let advice =
    'give the folder and its files to the user Tegami runs as (chown -R), or run Tegami as their owner';
  const refused = cannotCreateIn(folder);
  if (refused !== null) {
    const what = existsSync(file)
      ? "the database's -wal and -shm files"
      : 'the database (and its -wal and -shm files)';
    // EACCES is what the modes say, and owners can change. Anything else (a read-only or special
    // file system, a full disk) is named, and no chown helps.
    const why = refused.startsWith('EACCES') ? '' : ` (making a folder there failed: ${refused})`;
    if (why) advice = 'keep the database in a folder where this user can create files';
    problems.push(
      `${user} may not write to the folder ${folder}${why}, where SQLite creates ${what}`,
    );
  }
  if (existsSync(file) && statSync(file).isFile() && !writable(file)) {
    problems.push(`${user} may not write to ${file}`);
  }
  if (problems.length > 0) {
    return {
      ok: false,
      name: PERMISSIONS,
      detail: `${problems.join('; ')}: ${advice}`,
    };
  }
  return {
    ok: true,
    name: PERMISSIONS,
    detail: `${user} may write to ${folder} (the database and its -wal and -shm files)`,
  };
}

/**
 * Whether this user may create entries in `folder`, proved by making one there (a folder,
 * removed at once) rather than asked with access(W_OK): root is told yes by access() wherever the
 * mode bits would allow it, also where nothing can be made (/proc, /sys) or where the server
 * decides (an NFS export mapping root to nobody). Null when it may; else the system's answer
 * (`ENOENT: no such file or directory`).
 */
function cannotCreateIn(folder: string): string | null {
  try {
    rmdirSync(mkdtempSync(join(folder, '.tegami-check-')));
    return null;
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    // "ENOENT: no such file or directory, mkdtemp '…'": the answer without the call.
    return message.split(', ')[0] ?? code ?? 'unknown error';
  }
}

/** A name in SQL, quoted when PostgreSQL would not take it bare. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** Up to three names, then how many more: a line stays readable when most tables are named. */
function someOf(names: string[]): string {
  if (names.length > 3) return `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join('');
}

/**
 * Whether the migrations may run, and if not everything that is missing, each with what a DBA
 * runs: the remedies of docs/deploy.md (the user owns the database, or the schema of `?schema=`),
 * or the privilege that is missing. All of them at once: a DBA told one fix at a time would find
 * the next only after applying it.
 */
function describePrivileges(p: TablePrivileges): CheckResult {
  const user = ident(p.user);
  const db = ident(p.database);
  const fail = (problems: string[]): CheckResult => ({
    ok: false,
    name: PERMISSIONS,
    detail: `${
      problems.length === 1
        ? problems[0]
        : `${problems.length} problems: ${problems.map((text, i) => `${i + 1}) ${text}`).join(' ')}`
    } (see docs/deploy.md)`,
  });
  if (p.schema === null) {
    return fail([
      `user ${p.user} has no schema to create tables in: no schema of its search_path (${p.search_path}) exists that it may use; a DBA creates one for it: CREATE SCHEMA tegami AUTHORIZATION ${user}; and adds ?schema=tegami to TEGAMI_DATABASE_URL`,
    ]);
  }
  const schema = ident(p.schema);
  if (!p.schemaExists) {
    // Only a `?schema=` can be missing: current_schema() names one that exists. It has no tables.
    if (p.createOnDatabase) {
      return {
        ok: true,
        name: PERMISSIONS,
        detail: `schema ${p.schema} does not exist yet; user ${p.user} may create it (CREATE on database ${p.database}), and the first start does`,
      };
    }
    return fail([
      `schema ${p.schema} (?schema=) does not exist, and user ${p.user} may not create it (no CREATE on database ${p.database}); a DBA creates it for the user: CREATE SCHEMA ${schema} AUTHORIZATION ${user};`,
    ]);
  }
  const problems: string[] = [];
  const missing = [...(p.usage ? [] : ['USAGE']), ...(p.create ? [] : ['CREATE'])];
  if (missing.length > 0) {
    const owner =
      p.configured || p.schema !== 'public'
        ? `makes the user the schema's owner (ALTER SCHEMA ${schema} OWNER TO ${user};)`
        : `makes the user the database's owner (ALTER DATABASE ${db} OWNER TO ${user};)`;
    problems.push(
      `user ${p.user} may not create tables in schema ${p.schema} of database ${p.database}, which the migrations do (it lacks ${missing.join(' and ')} on the schema); a DBA ${owner}, or grants it: GRANT ${missing.join(', ')} ON SCHEMA ${schema} TO ${user};`,
    );
  }
  const notOwned = p.tables.filter((t) => !t.owned);
  if (notOwned.length > 0) {
    const owners = [...new Set(notOwned.map((t) => t.owner))];
    const whose = owners
      .map((owner) => {
        const theirs = notOwned.filter((t) => t.owner === owner);
        return `${someOf(theirs.map((t) => t.table))} ${theirs.length === 1 ? 'belongs' : 'belong'} to ${owner}`;
      })
      .join('; ');
    const alter = (table: string) => `ALTER TABLE ${schema}.${ident(table)} OWNER TO ${user};`;
    const statements =
      notOwned.length <= 3
        ? notOwned.map((t) => alter(t.table)).join(' ')
        : `${alter(notOwned[0]?.table ?? '')} and the same for each of the other ${notOwned.length - 1}`;
    problems.push(
      `user ${p.user} ${notOwned.length === p.tables.length ? 'owns none' : `does not own ${notOwned.length}`} of Tegami's ${p.tables.length} tables in schema ${p.schema} (${whose}), and only a table's owner may alter it, as the next upgrade's migrations do: ${owners.length === 1 ? `run Tegami as ${owners[0]}, or ` : ''}a DBA gives ${notOwned.length === 1 ? 'it' : 'them'} to the user: ${statements}`,
    );
  }
  if (problems.length > 0) return fail(problems);
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
      // The address as configured: a check opens no port, so it cannot say the API is there.
      detail: `provider ${config.provider}, database ${redactUrl(config.databaseUrl)}, the API would listen on ${config.http.host}:${config.http.port}`,
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
