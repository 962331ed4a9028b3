import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { runTegami, spawnTegami, tempDatabase } from './helpers.ts';

/**
 * A misspelt TEGAMI_* variable leaves its setting at the default: TEGAMI_PORT=46000 starts on
 * port 4025. Tegami says so at start (stderr and the log) and in `tegami check`, naming the
 * variable it probably meant, and never shows the value (it may be a key).
 */

const SECRET = 'SG.a-key-under-a-wrong-name';

describe('unknown TEGAMI_* variables', () => {
  const db = tempDatabase();
  after(() => db.cleanup());
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_PORT: '46000',
    TEGAMI_SENDGRID_KEY: SECRET,
    TEGAMI_EMPTY_ONE: '',
  };

  for (const role of ['serve', 'worker'] as const) {
    test(`tegami ${role} warns at start on stderr and in the log, and starts`, async () => {
      const spawned = spawnTegami([role], env);
      try {
        await spawned.ready;
      } finally {
        spawned.child.kill('SIGTERM');
        await spawned.exited;
      }
      const output = spawned.output();
      const lines = output.split('\n');
      assert.ok(
        lines.includes(
          `tegami ${role}: warning: TEGAMI_PORT is not a Tegami variable and is ignored; did you mean TEGAMI_HTTP_PORT?`,
        ),
        output,
      );
      assert.ok(
        lines.includes(
          `tegami ${role}: warning: TEGAMI_SENDGRID_KEY is not a Tegami variable and is ignored; did you mean TEGAMI_SENDGRID_API_KEY?`,
        ),
        output,
      );
      const logged = lines
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line))
        .filter((entry) => entry.variable !== undefined);
      assert.deepEqual(
        logged.map((entry) => ({
          level: entry.level,
          variable: entry.variable,
          suggestions: entry.suggestions,
        })),
        [
          { level: 40, variable: 'TEGAMI_PORT', suggestions: ['TEGAMI_HTTP_PORT'] },
          { level: 40, variable: 'TEGAMI_SENDGRID_KEY', suggestions: ['TEGAMI_SENDGRID_API_KEY'] },
        ],
      );
      assert.doesNotMatch(output, /TEGAMI_EMPTY_ONE/, 'an empty variable is unset');
      assert.ok(!output.includes(SECRET), 'values are never shown');
      if (role === 'serve') assert.match(output, /listening on http:\/\/127\.0\.0\.1:(?!46000)/);
    });
  }

  test('every other command that reads the configuration names them too, and goes on', async () => {
    const migrated = await runTegami(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.output);
    assert.ok(
      migrated.output
        .split('\n')
        .includes(
          'tegami migrate: warning: TEGAMI_PORT is not a Tegami variable and is ignored; did you mean TEGAMI_HTTP_PORT?',
        ),
      migrated.output,
    );
    const listed = await runTegami(['keys', 'list'], env);
    assert.equal(listed.code, 0, listed.output);
    assert.match(listed.output, /^tegami keys list: warning: TEGAMI_SENDGRID_KEY is not/m);
    assert.ok(!`${migrated.output}${listed.output}`.includes(SECRET), 'values are never shown');
  });

  test('tegami check shows them as warn lines and still exits 0', async () => {
    assert.equal((await runTegami(['migrate'], env)).code, 0);
    const { code, output } = await runTegami(['check'], env);
    assert.equal(code, 0, output);
    const lines = output.trim().split('\n');
    assert.equal(lines.length, 6, output);
    assert.match(lines[0] ?? '', /^ok {4}configuration: provider sandbox, /);
    assert.deepEqual(lines.slice(1, 3), [
      'warn  configuration: TEGAMI_PORT is not a Tegami variable and is ignored; did you mean TEGAMI_HTTP_PORT?',
      'warn  configuration: TEGAMI_SENDGRID_KEY is not a Tegami variable and is ignored; did you mean TEGAMI_SENDGRID_API_KEY?',
    ]);
    assert.match(lines[3] ?? '', /^ok {4}database: /);
    assert.match(lines[4] ?? '', /^ok {4}database permissions: /);
    assert.match(lines[5] ?? '', /^ok {4}provider sandbox: /);
  });

  test('tegami check with a bad variable: the FAIL line, then the unknown names', async () => {
    const { code, output } = await runTegami(['check'], {
      ...env,
      TEGAMI_PROVIDER: 'sendgrid',
    });
    assert.equal(code, 1, output);
    assert.deepEqual(output.trim().split('\n'), [
      'FAIL  configuration: TEGAMI_SENDGRID_API_KEY: is required when TEGAMI_PROVIDER=sendgrid',
      'warn  configuration: TEGAMI_PORT is not a Tegami variable and is ignored; did you mean TEGAMI_HTTP_PORT?',
      'warn  configuration: TEGAMI_SENDGRID_KEY is not a Tegami variable and is ignored; did you mean TEGAMI_SENDGRID_API_KEY?',
    ]);
    assert.ok(!output.includes(SECRET), 'values are never shown');
  });
});
