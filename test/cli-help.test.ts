// tegami-test: no-database

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { COMMANDS } from '../src/cli/commands.ts';
import { runTegami, TEST_ENGINE } from './helpers.ts';

/**
 * `--help` answers and does nothing else; an unknown option is a usage error. Each runs as a real
 * `tegami` process against a SQLite path in an empty folder, with a configuration that would
 * stop any command that read it: the folder must still be empty afterwards.
 */

const dir = mkdtempSync(join(tmpdir(), 'tegami-help-'));
const env = {
  TEGAMI_DATABASE_URL: `sqlite:${join(dir, 'never', 'tegami.db')}`,
  TEGAMI_HTTP_PORT: 'not-a-port',
};

/** The processes run a few at a time: each start costs a second or more of CPU. */
async function inTurns<T, R>(items: T[], work: (item: T) => Promise<R>, width = 3): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index] as T);
      }
    }),
  );
  return results;
}

const argv = (name: string) => name.split(' ');

// No database is involved: once, on the SQLite pass, is enough.
describe('tegami --help', { skip: TEST_ENGINE === 'postgres' && 'uses no database' }, () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every command answers --help with its usage and options, and does nothing else', async () => {
    const cases: { args: string[]; usage: string }[] = [
      ...COMMANDS.map((c) => ({ args: [...argv(c.name), '--help'], usage: c.synopsis })),
      ...['serve', 'keys revoke'].map((name) => ({
        args: [...argv(name), '-h'],
        usage: `tegami ${name}`,
      })),
      { args: ['--help'], usage: 'tegami <command>' },
      { args: ['keys', '--help'], usage: 'tegami keys create' },
      { args: ['help', 'worker'], usage: 'tegami worker' },
    ];
    const results = await inTurns(cases, (c) => runTegami(c.args, env));
    cases.forEach((c, i) => {
      const { code, output } = results[i] as { code: number | null; output: string };
      const what = `tegami ${c.args.join(' ')}`;
      assert.equal(code, 0, `${what}:\n${output}`);
      assert.ok(output.includes(c.usage), `${what} shows "${c.usage}":\n${output}`);
      assert.match(output, /--help/, `${what} lists its options`);
      assert.doesNotMatch(
        output,
        /listening|Applied|Created|Configuration error|Database error/,
        `${what} only printed help`,
      );
    });
    for (const spec of COMMANDS) {
      const output = results[COMMANDS.indexOf(spec)]?.output ?? '';
      for (const option of Object.keys(spec.options)) {
        assert.ok(output.includes(`--${option}`), `tegami ${spec.name} --help lists --${option}`);
      }
    }
    assert.deepEqual(readdirSync(dir), [], 'no database was created or opened');
  });

  test('an unknown option: exit 64 with the usage, nothing done', async () => {
    const cases = [
      ...COMMANDS.map((c) => ({ args: [...argv(c.name), '--no-such-option'], usage: c.synopsis })),
      { args: ['--no-such-option'], usage: 'tegami <command>' },
      { args: ['no-such-command'], usage: 'tegami <command>' },
      { args: ['keys', 'list', 'extra'], usage: 'tegami keys list' },
    ];
    const results = await inTurns(cases, (c) => runTegami(c.args, env));
    cases.forEach((c, i) => {
      const { code, output } = results[i] as { code: number | null; output: string };
      const what = `tegami ${c.args.join(' ')}`;
      assert.equal(code, 64, `${what}:\n${output}`);
      assert.match(output, /no-such-option|no-such-command|extra/, `${what} names the problem`);
      assert.ok(output.includes(`Usage: ${c.usage}`), `${what} shows the usage:\n${output}`);
    });
    assert.deepEqual(readdirSync(dir), [], 'no database was created or opened');
  });

  test('a value that begins with "-" after its option: exit 64, said in words', async () => {
    const { code, output } = await runTegami(
      ['recover', '--reason', 'failed', '--rate', '-5'],
      env,
    );
    assert.equal(code, 64, output);
    assert.match(
      output,
      /"--rate" needs a value after it \(one that begins with "-" is written --rate=VALUE\)/,
    );
    assert.doesNotMatch(output, /ambiguous/);
    assert.deepEqual(readdirSync(dir), [], 'no database was created or opened');
  });
});
