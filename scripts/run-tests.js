// Runs every test file with Node's built-in test runner, TypeScript loaded through tsx, once per
// database engine: first on SQLite, then on PostgreSQL (each test file makes its own database
// there: a schema per tempDatabase()). Node 20's runner does not expand globs itself, so the file
// list is built here.
//
//   node scripts/run-tests.js [part of a file name ...]
//
// TEGAMI_TEST_ENGINES=sqlite (or postgres) runs one engine only; the default is sqlite,postgres.
// TEGAMI_TEST_POSTGRES_URL=postgres://user@host:port/db uses that server (the database must exist
// and the user may create schemas); without it a throwaway server is started for the run and
// removed afterwards (test/support/postgres.ts), which needs PostgreSQL's server programs
// (Debian: the `postgresql` package).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ENGINES = ['sqlite', 'postgres'];

const only = process.argv.slice(2);
const files = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => `test/${f}`);

const engines = (process.env.TEGAMI_TEST_ENGINES || ENGINES.join(','))
  .split(',')
  .map((e) => e.trim())
  .filter(Boolean);
const unknown = engines.filter((e) => !ENGINES.includes(e));
if (unknown.length > 0 || engines.length === 0) {
  console.error(
    `TEGAMI_TEST_ENGINES="${process.env.TEGAMI_TEST_ENGINES}": use sqlite, postgres or sqlite,postgres`,
  );
  process.exit(2);
}

// Loads the TypeScript helper that starts a throwaway server (plain JS cannot import .ts alone).
async function postgresSupport() {
  const { tsImport } = await import('tsx/esm/api');
  return tsImport('../test/support/postgres.ts', import.meta.url);
}

let givenUrl = process.env.TEGAMI_TEST_POSTGRES_URL || '';
if (engines.includes('postgres') && !givenUrl) {
  // Fail before running anything, rather than after the SQLite run.
  const { findPostgresBin, PostgresNotFoundError } = await postgresSupport();
  if (!findPostgresBin()) {
    console.error(`\n${new PostgresNotFoundError().message}\n`);
    process.exit(1);
  }
}

let current = null;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    current?.kill(signal);
    process.exitCode = 1;
  });
}

const reports = mkdtempSync(join(tmpdir(), 'tegami-test-report-'));
process.on('exit', () => rmSync(reports, { recursive: true, force: true }));

function redact(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** Runs the files on one engine; resolves with the exit code and the runner's counts. */
function runFiles(engine, env) {
  const tap = join(reports, `${engine}.tap`);
  const started = Date.now();
  console.log(
    `\n━━ Tests on ${engine === 'sqlite' ? 'SQLite' : `PostgreSQL (${redact(env.url)})`} ━━\n`,
  );
  return new Promise((resolve) => {
    current = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tap}`,
        ...files,
      ],
      {
        stdio: 'inherit',
        env: {
          ...process.env,
          TEGAMI_TEST_ENGINE: engine,
          ...(env.url ? { TEGAMI_TEST_POSTGRES_URL: env.url } : {}),
        },
      },
    );
    current.once('exit', (code, signal) => {
      current = null;
      const counts = {};
      try {
        for (const m of readFileSync(tap, 'utf8').matchAll(/^# (\w+) (\d+)$/gm)) {
          counts[m[1]] = Number(m[2]);
        }
      } catch {
        // no report: the runner itself failed; the exit code says so
      }
      resolve({
        engine,
        code: code ?? (signal ? 1 : 0),
        counts,
        seconds: (Date.now() - started) / 1000,
      });
    });
  });
}

const results = [];
for (const engine of engines) {
  if (process.exitCode) break; // interrupted
  if (engine === 'sqlite') {
    results.push(await runFiles('sqlite', {}));
    continue;
  }
  let server = null;
  if (!givenUrl) {
    const { startThrowawayPostgres } = await postgresSupport();
    const started = Date.now();
    try {
      server = await startThrowawayPostgres();
    } catch (error) {
      console.error(`\nCould not start a throwaway PostgreSQL: ${error.message}\n`);
      results.push({ engine, code: 1, counts: {}, seconds: 0, note: 'server did not start' });
      continue;
    }
    givenUrl = server.url;
    console.log(
      `\nStarted a throwaway PostgreSQL at ${server.url} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  try {
    results.push(await runFiles('postgres', { url: givenUrl }));
  } finally {
    await server?.stop();
  }
}

console.log('\n━━ Summary ━━');
let failed = false;
for (const r of results) {
  const c = r.counts;
  const ok = r.code === 0;
  failed ||= !ok;
  const counts =
    c.tests === undefined
      ? (r.note ?? 'no results')
      : `${c.tests} tests, ${c.pass} passed, ${c.fail} failed, ${c.skipped ?? 0} skipped` +
        (c.cancelled ? `, ${c.cancelled} cancelled` : '');
  console.log(
    `${ok ? '✔' : '✖'} ${r.engine.padEnd(8)} ${counts} (${r.seconds.toFixed(1)} s)${ok ? '' : ` — exit code ${r.code}`}`,
  );
}
if (results.length < engines.length) {
  failed = true;
  console.log('✖ interrupted before every engine ran');
}
process.exit(failed ? 1 : process.exitCode || 0);
