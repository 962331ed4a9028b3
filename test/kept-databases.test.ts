import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { queryDatabase, TEST_ENGINE } from './helpers.ts';

/**
 * tempDatabase() keeps the databases of a test file that failed and says where they are, and
 * removes them when every test passed: checked on test/fixtures/kept-database.test.ts, run in a
 * child process as scripts/run-tests.js runs a test file.
 */

const FIXTURE = new URL('./fixtures/kept-database.test.ts', import.meta.url).pathname;

interface Made {
  dir: string;
  url: string;
  schema: string | null;
}

async function runFixture(fail: boolean): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, TEGAMI_FIXTURE_FAIL: fail ? '1' : '0' };
  // This process is itself a child of a test run: the nested run must report as a top-level one.
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', FIXTURE],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, output };
}

function madeIn(output: string): Made[] {
  return [...output.matchAll(/fixture database: (\S+) (\S+)/g)].map(([, dir = '', url = '']) => ({
    dir,
    url,
    schema: url.startsWith('postgres') ? new URL(url).searchParams.get('schema') : null,
  }));
}

async function schemaExists(made: Made): Promise<boolean> {
  const server = new URL(made.url);
  server.searchParams.delete('schema');
  const rows = await queryDatabase(
    server.toString(),
    'select 1 from information_schema.schemata where schema_name = ?',
    [made.schema],
  );
  return rows.length === 1;
}

/** Whether the database is still there: the SQLite folder, or the PostgreSQL schema. */
async function exists(made: Made): Promise<boolean> {
  return made.schema ? schemaExists(made) : existsSync(made.dir);
}

describe(`test databases of a failed file are kept (${TEST_ENGINE})`, () => {
  test('a failed file keeps both databases and prints one line each saying where', async () => {
    const { code, output } = await runFixture(true);
    const made = madeIn(output);
    try {
      assert.equal(code, 1, output);
      assert.equal(made.length, 2, output);
      for (const m of made) {
        const kept = output
          .split('\n')
          .filter((line) => line.includes('failed: kept its test database'))
          .filter((line) => line.includes(m.dir));
        assert.equal(kept.length, 1, `one "kept" line for ${m.dir}:\n${output}`);
        const line = kept[0] ?? '';
        assert.match(line, /test\/fixtures\/kept-database\.test\.ts failed/);
        if (m.schema) {
          assert.ok(line.includes(`schema ${m.schema} at postgres`), line);
          assert.doesNotMatch(line, /schema=/, 'the server URL, not the test URL');
        } else {
          assert.ok(line.includes(m.url), line);
        }
        assert.ok(existsSync(m.dir), `${m.dir} is kept`);
        assert.ok(await exists(m), `${m.url} is kept`);
      }
    } finally {
      await removeKept(made);
    }
  });

  test('a passing file leaves nothing behind and prints nothing about it', async () => {
    const { code, output } = await runFixture(false);
    const made = madeIn(output);
    try {
      assert.equal(code, 0, output);
      assert.equal(made.length, 2, output);
      assert.doesNotMatch(output, /kept its test database/);
      for (const m of made) {
        assert.equal(existsSync(m.dir), false, `${m.dir} is removed`);
        assert.equal(await exists(m), false, `${m.url} is removed`);
      }
    } finally {
      await removeKept(made);
    }
  });
});

/** What the fixture kept goes once checked (a throwaway server goes with its schemas anyway). */
async function removeKept(made: Made[]): Promise<void> {
  for (const m of made) rmSync(m.dir, { recursive: true, force: true });
  const schemas = made.filter((m) => m.schema);
  if (schemas.length === 0) return;
  const pg = (await import('pg')).default;
  const server = new URL(schemas[0]?.url ?? '');
  server.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: server.toString() });
  client.on('error', () => {});
  await client.connect();
  try {
    for (const m of schemas) await client.query(`drop schema if exists "${m.schema}" cascade`);
  } finally {
    await client.end();
  }
}
