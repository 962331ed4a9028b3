import { existsSync, linkSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';

/** sqlite3_backup_step's page count for "the rest", as high as better-sqlite3 takes. */
const ALL_PAGES = 0x7fffffff;

export interface SqliteBackup {
  /** Where it was written. */
  file: string;
  bytes: number;
  /** Messages in the copy, to compare with what the running service shows. */
  messages: number;
  elapsedMs: number;
}

/**
 * Copies the SQLite database at `source` to `target` while other processes go on writing to it:
 * SQLite's online backup, WAL included, as one read transaction (one step for every page), so
 * the copy is the database as it was at one commit. In smaller steps, any commit of another
 * process in between starts the copy over, and under steady traffic it would never finish.
 *
 * Written to `<target>.partial-<pid>` and linked to its name once the copy passed `pragma integrity_check`: an
 * interrupted backup leaves no file that looks like a good one.
 */
export async function backupSqliteDatabase(source: string, target: string): Promise<SqliteBackup> {
  if (!existsSync(source)) throw new BackupError(`there is no database at ${source}`, 'no_source');
  if (existsSync(target)) {
    throw new BackupError(`${target} exists already: give the backup a new name`, 'target_exists');
  }
  // Said in words before SQLite says "Cannot save backup because the directory does not exist".
  const folder = dirname(resolve(target));
  if (!existsSync(folder)) {
    throw new BackupError(
      `there is no folder ${folder} to write ${basename(target)} in: make it first, or name another`,
      'no_target_folder',
    );
  }
  const started = performance.now();
  // This run's own: two backups to one name at once do not remove each other's copy.
  const partial = `${target}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  // Read-only: the backup never changes the database (and makes no empty one).
  const db = new SqliteDatabase(source, { readonly: true, fileMustExist: true });
  try {
    // Every page in the next step, whatever the count: better-sqlite3 clamps -1 ("all") to 0.
    // Asking for the count the last step saw is not "all": a database that grew meanwhile
    // leaves pages over, the next step starts over after the commits in between, and under
    // steady traffic the copy never finishes (a full copy per step).
    await db.backup(partial, { progress: () => ALL_PAGES });
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
  const copy = new SqliteDatabase(partial);
  let messages: number;
  try {
    // One file, with no -wal beside it to forget when it is copied elsewhere; Tegami puts a
    // restored database back in WAL mode when it opens it.
    copy.pragma('journal_mode = DELETE');
    const integrity = copy.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') {
      throw new BackupError(
        `the copy failed SQLite's integrity check: ${String(integrity)}`,
        'corrupt',
      );
    }
    messages = hasTable(copy, 'messages')
      ? Number(copy.prepare('select count(*) from messages').pluck().get())
      : 0;
  } catch (error) {
    copy.close();
    rmSync(partial, { force: true });
    throw error;
  }
  copy.close();
  // A link, not a rename: it fails if a file of that name appeared meanwhile, never replaces it.
  try {
    linkSync(partial, target);
  } catch (error) {
    rmSync(partial, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BackupError(
        `${target} exists already: give the backup a new name`,
        'target_exists',
      );
    }
    throw error;
  }
  rmSync(partial);
  return {
    file: target,
    bytes: statSync(target).size,
    messages,
    elapsedMs: performance.now() - started,
  };
}

function hasTable(db: SqliteDatabase.Database, name: string): boolean {
  return (
    db.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(name) !==
    undefined
  );
}

export class BackupError extends Error {
  constructor(
    message: string,
    readonly reason: 'no_source' | 'target_exists' | 'no_target_folder' | 'corrupt',
  ) {
    super(message);
  }
}
