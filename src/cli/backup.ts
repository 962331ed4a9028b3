import { sqlitePathFromUrl } from '../store/engine/sqlite.ts';
import { BackupError, backupSqliteDatabase } from '../store/engine/sqlite-backup.ts';
import { isPostgresUrl } from '../store/index.ts';
import type { Config } from './config.ts';

/** Exit codes from sysexits.h. */
const EX_USAGE = 64;
const EX_NOINPUT = 66;
const EX_SOFTWARE = 70;
const EX_CANTCREAT = 73;

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** `tegami backup <file>`: returns the exit code. */
export async function backup(config: Config, file: string): Promise<number> {
  if (isPostgresUrl(config.databaseUrl)) {
    console.error(
      'tegami backup: copies a SQLite database; for PostgreSQL use pg_dump (docs/runbook.md, "Backups")',
    );
    return EX_USAGE;
  }
  const source = sqlitePathFromUrl(config.databaseUrl);
  try {
    const done = await backupSqliteDatabase(source, file);
    console.log(
      `Backed up ${source} to ${done.file}: ${done.messages.toLocaleString('en')} messages, ${megabytes(done.bytes)}, in ${(done.elapsedMs / 1000).toFixed(1)} s (integrity check: ok).`,
    );
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`tegami backup: ${message}`);
    if (error instanceof BackupError) {
      return error.reason === 'no_source'
        ? EX_NOINPUT
        : error.reason === 'target_exists' || error.reason === 'no_target_folder'
          ? EX_CANTCREAT
          : EX_SOFTWARE;
    }
    // better-sqlite3's words for a folder that is not there.
    return /directory does not exist|EACCES|EROFS|ENOSPC/.test(message)
      ? EX_CANTCREAT
      : EX_SOFTWARE;
  }
}
