import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { findPostgresBin, startThrowawayPostgres } from '../test/support/postgres.ts';

/**
 * The server settings docs/deploy.md recommends ("PostgreSQL settings"), for the benchmarks'
 * throwaway servers: full-page images in the WAL compressed, with lz4 where the server was built
 * with it (Debian's is), else with PostgreSQL's own pglz.
 */
export function recommendedSettings(): string[] {
  return [`wal_compression=${serverHasLz4() ? 'lz4' : 'on'}`];
}

function serverHasLz4(): boolean {
  const bin = findPostgresBin();
  if (!bin) return false;
  try {
    return execFileSync(join(bin, 'pg_config'), ['--configure'], { encoding: 'utf8' }).includes(
      '--with-lz4',
    );
  } catch {
    return false;
  }
}

/** A throwaway server for a benchmark, with the recommended settings. */
export function startBenchPostgres() {
  return startThrowawayPostgres({ settings: recommendedSettings() });
}
