// Runs every test file with Node's built-in test runner, TypeScript loaded through tsx, once per
// database engine: first on SQLite, then on PostgreSQL (each test file makes its own database
// there: a schema per tempDatabase()). Node 20's runner does not expand globs itself, so the file
// list is built here.
//
//   node scripts/run-tests.js [part of a file name ...]
//
// Files that never touch a database run once, in the first pass only (SQLite, or PostgreSQL when
// that is the only engine chosen). Such a file says so on its first line, followed by a blank line:
//
//   // tegami-test: no-database
//
// The marker may also sit lower in the file's leading comment lines, but never after code. A
// marked file that calls tempDatabase() (or startTestService() without a database URL) fails
// there, so a wrong marker cannot quietly skip PostgreSQL; see test/README.md.
//
// TEGAMI_TEST_ENGINES=sqlite (or postgres) runs one engine only; the default is sqlite,postgres.
// TEGAMI_TEST_POSTGRES_URL=postgres://user@host:port/db uses that server (the database must exist
// and the user may create schemas); without it a throwaway server is started for the run and
// removed afterwards (test/support/postgres.ts), which needs PostgreSQL's server programs
// (Debian: the `postgresql` package).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const ENGINES = ['sqlite', 'postgres'];

const only = process.argv.slice(2);
const files = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => `test/${f}`);

/** The marker line; test/helpers.ts reads it with the same rule (isMarkedDatabaseFree). */
const NO_DATABASE = '// tegami-test: no-database';

/** Whether the file's leading comment lines (before any code) hold the marker. */
function databaseFree(path) {
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const text = line.trim();
    if (text === NO_DATABASE) return true;
    if (text !== '' && !text.startsWith('//')) return false;
  }
  return false;
}
const withoutDatabase = new Set(files.filter(databaseFree));

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

/** The files each engine runs: database-free files only in the first pass. */
const filesFor = (engine) =>
  engine === engines[0] ? files : files.filter((f) => !withoutDatabase.has(f));

// Loads the TypeScript helper that starts a throwaway server (plain JS cannot import .ts alone).
async function postgresSupport() {
  const { tsImport } = await import('tsx/esm/api');
  return tsImport('../test/support/postgres.ts', import.meta.url);
}

let givenUrl = process.env.TEGAMI_TEST_POSTGRES_URL || '';
if (engines.includes('postgres') && filesFor('postgres').length > 0 && !givenUrl) {
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

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Runs the files on one engine; resolves with the exit code and the runner's counts. */
function runFiles(engine, env) {
  const tap = join(reports, `${engine}.tap`);
  const started = Date.now();
  const chosen = filesFor(engine);
  const free = chosen.filter((f) => withoutDatabase.has(f)).length;
  console.log(
    `\n━━ Tests on ${engine === 'sqlite' ? 'SQLite' : `PostgreSQL (${redact(env.url)})`}: ` +
      `${plural(chosen.length, 'file')}${free > 0 ? `, ${free} of them database-free` : ''} ━━\n`,
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
        ...chosen,
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
        failures: failuresIn(tap),
        files: chosen.length,
        free,
        seconds: (Date.now() - started) / 1000,
      });
    });
  });
}

/**
 * The failed tests of a TAP report, each with where it failed and the start of its error. The
 * spec output has them too, somewhere in thousands of lines; the summary repeats them at the end,
 * where someone reading only the tail of a CI log looks.
 */
function failuresIn(tap) {
  let lines;
  try {
    lines = readFileSync(tap, 'utf8').split('\n');
  } catch {
    return [];
  }
  const failures = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]);
    if (!head) continue;
    const block = [];
    for (i++; i < lines.length && lines[i].trim() !== '...'; i++) block.push(lines[i]);
    const yaml = block.join('\n');
    if (/failureType: 'subtestsFailed'/.test(yaml)) continue; // its failed tests are listed
    const location = /location: '([^']*)'/.exec(yaml)?.[1] ?? '';
    const error = [];
    const start = block.findIndex((l) => /^\s*error: /.test(l));
    if (start !== -1) {
      const inline = block[start].replace(/^\s*error: /, '');
      if (inline !== '|-' && inline !== '>-') error.push(inline);
      else {
        const indent = block[start].search(/\S/) + 2;
        for (const line of block.slice(start + 1)) {
          if (line.trim() !== '' && line.search(/\S/) < indent) break;
          error.push(line.slice(indent));
        }
      }
    }
    failures.push({ name: head[2], location: relative(process.cwd(), location), error });
  }
  return failures;
}

const results = [];
for (const engine of engines) {
  if (process.exitCode) break; // interrupted
  if (filesFor(engine).length === 0) {
    // Every chosen file is database-free and already ran: no server to start.
    results.push({ engine, code: 0, counts: {}, seconds: 0, note: 'only database-free files' });
    continue;
  }
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
  if (server && results.at(-1)?.code !== 0) {
    console.log(
      '\nThe throwaway PostgreSQL server is gone, and with it any schema a failed file kept; to ' +
        'look into one, run that file again with TEGAMI_TEST_POSTGRES_URL set to a server you keep.',
    );
  }
}

const MAX_ERROR_LINES = 25;
for (const r of results) {
  if (!r.failures?.length) continue;
  console.log(`\n━━ Failed on ${r.engine} ━━`);
  for (const f of r.failures) {
    console.log(`\n✖ ${f.name}${f.location ? ` (${f.location})` : ''}`);
    const shown = f.error.filter((line, i, all) => line.trim() !== '' || all[i - 1]?.trim());
    while (shown.length > 0 && shown.at(-1).trim() === '') shown.pop();
    for (const line of shown.slice(0, MAX_ERROR_LINES)) console.log(`    ${line.slice(0, 300)}`);
    if (shown.length > MAX_ERROR_LINES)
      console.log(`    … ${shown.length - MAX_ERROR_LINES} more lines`);
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
        (c.cancelled ? `, ${c.cancelled} cancelled` : '') +
        ` in ${plural(r.files, 'file')}` +
        (r.free ? ` (${r.free} database-free, run on this engine only)` : '');
  console.log(
    `${ok ? '✔' : '✖'} ${r.engine.padEnd(8)} ${counts} (${r.seconds.toFixed(1)} s)${ok ? '' : ` — exit code ${r.code}`}`,
  );
}
if (results.length < engines.length) {
  failed = true;
  console.log('✖ interrupted before every engine ran');
}
process.exit(failed ? 1 : process.exitCode || 0);
