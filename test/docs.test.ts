// tegami-test: no-database

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { COMMANDS, findCommand } from '../src/cli/commands.ts';
import {
  CONFIGURATION_VARIABLES,
  INPUT_VARIABLES,
  isKnownVariable,
  OTHER_VARIABLES,
  TEST_VARIABLE_PREFIX,
} from '../src/cli/variables.ts';
import { PROVIDER_STATES } from '../src/domain/provider-circuit.ts';
import { DELIVERY_STATUSES } from '../src/domain/recipient-state.ts';
import { MESSAGE_STATUSES, RECIPIENT_STATUSES } from '../src/domain/types.ts';
import { ERROR_CODES } from '../src/http/errors.ts';
import { renderMime, TEGAMI_ID_HEADER } from '../src/providers/render-mime.ts';
import { SIMULATOR_OPTIONS, SIMULATOR_USAGE } from '../src/simulator/index.ts';
import { WEBHOOK_HEADERS } from '../src/tracking/status-webhooks/sender.ts';
import { minimalContent } from './support/fakes.ts';

/**
 * The docs must not drift from the code: error codes, environment variables, the quick start,
 * commands and flags, statuses, header names.
 */

function read(path: string): string {
  return readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
}

/** Rows of docs/api-errors.md's table whose first cell is a code in backticks: code → status. */
function documentedErrorCodes(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const line of read('docs/api-errors.md').split('\n')) {
    const match = /^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line);
    if (!match?.[1] || !match[2]) continue;
    assert.ok(!rows.has(match[1]), `${match[1]} is listed twice in docs/api-errors.md`);
    rows.set(match[1], Number(match[2]));
  }
  return rows;
}

describe('documentation', () => {
  test('docs/api-errors.md lists every error code with its status, and no other code', () => {
    const documented = documentedErrorCodes();
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.equal(documented.get(code), status, `${code} (${status}) in docs/api-errors.md`);
    }
    const unknown = [...documented.keys()].filter((code) => !Object.hasOwn(ERROR_CODES, code));
    assert.deepEqual(unknown, [], 'codes in docs/api-errors.md that src/http/errors.ts lacks');
  });

  test('docs/configuration.md documents every TEGAMI_* variable that src/cli/config.ts reads', () => {
    const names = new Set(read('src/cli/config.ts').match(/TEGAMI_[A-Z_]+/g) ?? []);
    assert.ok(names.size > 0, 'found no TEGAMI_* names in src/config.ts');
    const docs = read('docs/configuration.md');
    const missing = [...names].filter((name) => !docs.includes(`\`${name}\``));
    assert.deepEqual(missing, [], 'variables missing from docs/configuration.md');
  });

  test('docs/configuration.md names every TEGAMI_* variable of src/cli/variables.ts', () => {
    const docs = read('docs/configuration.md');
    const names = [...CONFIGURATION_VARIABLES, ...INPUT_VARIABLES, ...OTHER_VARIABLES];
    const missing = names.filter((name) => !docs.includes(`\`${name}\``));
    assert.deepEqual(missing, [], 'variables missing from docs/configuration.md');
    assert.ok(docs.includes(`\`${TEST_VARIABLE_PREFIX}*\``), `${TEST_VARIABLE_PREFIX}* is named`);
  });

  test('README.md shows the quick start and the test command', () => {
    const readme = read('README.md');
    assert.ok(readme.includes('npm ci && npm start'), 'README.md lacks `npm ci && npm start`');
    assert.ok(readme.includes('npm test'), 'README.md lacks `npm test`');
  });
});

/** README.md and every file in docs/. */
function allDocs(): { path: string; text: string }[] {
  const docs = readdirSync(new URL('../docs/', import.meta.url))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs].map((path) => ({ path, text: read(path) }));
}

/** The first cells of the Markdown table whose header's first cell is `header`. */
function tableColumn(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\|\\s*${header}\\s*\\|`).test(line));
  assert.ok(start >= 0, `a table headed "${header}"`);
  const cells: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    cells.push(line.split('|')[1]?.trim() ?? '');
  }
  return cells;
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

describe('documentation matches the code', () => {
  test('every command and option is in README.md, and every `tegami …` in the docs exists', () => {
    const readme = read('README.md');
    for (const spec of COMMANDS) {
      assert.ok(
        readme.includes(`\`tegami ${spec.name}`),
        `README.md documents tegami ${spec.name}`,
      );
      for (const option of Object.keys(spec.options)) {
        assert.ok(
          readme.includes(`--${option}`),
          `README.md documents tegami ${spec.name} --${option}`,
        );
      }
    }
    const simulatorFlags = new Set(Object.keys(SIMULATOR_OPTIONS));
    const problems: string[] = [];
    let seen = 0;
    for (const { path, text } of allDocs()) {
      // Shell lines continued with a backslash are one command.
      const joined = text.replace(/\\\n\s*/g, ' ');
      for (const match of joined.matchAll(
        /(?<![\w/.-])tegami ([a-z][a-z-]*)( [a-z][a-z-]*)?([^`\n]*)/g,
      )) {
        seen++;
        const [, first = '', second = '', rest = ''] = match;
        const name = first === 'keys' ? `keys${second}` : first;
        const spec = findCommand(name);
        if (!spec) {
          problems.push(`${path}: "tegami ${name}" is not a command`);
          continue;
        }
        const tail = first === 'keys' ? rest : `${second}${rest}`;
        const known = name === 'simulator' ? simulatorFlags : new Set(Object.keys(spec.options));
        for (const flag of tail.matchAll(/(?:^|\s)--([a-z][a-z-]*)/g)) {
          if (!known.has(flag[1] ?? ''))
            problems.push(`${path}: tegami ${name} has no --${flag[1]}`);
        }
      }
    }
    assert.ok(seen > 20, `found only ${seen} command references`);
    assert.deepEqual(problems, []);
  });

  test("docs/simulator.md lists exactly the simulator's flags, and so does its usage", () => {
    const doc = read('docs/simulator.md');
    const flags = Object.keys(SIMULATOR_OPTIONS).filter((flag) => flag !== 'help');
    const table = tableColumn(doc, 'Flag').map((cell) => /^`--([a-z-]+)/.exec(cell)?.[1]);
    assert.deepEqual([...table].sort(), [...flags].sort(), 'the Flags table of docs/simulator.md');
    const mentioned = new Set([...doc.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((m) => m[1]));
    const unknown = [...mentioned].filter((flag) => !Object.hasOwn(SIMULATOR_OPTIONS, flag ?? ''));
    assert.deepEqual(unknown, [], 'flags docs/simulator.md mentions that the simulator lacks');
    for (const flag of flags)
      assert.ok(SIMULATOR_USAGE.includes(`--${flag}`), `usage lists --${flag}`);
  });

  test('docs/architecture.md lists every message and recipient status, and no other', () => {
    const doc = read('docs/architecture.md');
    assert.deepEqual(
      tableColumn(doc, 'Message status').map(unquote).sort(),
      [...MESSAGE_STATUSES].sort(),
    );
    assert.deepEqual(
      tableColumn(doc, 'Recipient status').map(unquote).sort(),
      [...RECIPIENT_STATUSES].sort(),
    );
    for (const status of [...DELIVERY_STATUSES, ...PROVIDER_STATES]) {
      assert.ok(doc.includes(`\`${status}\``), `docs/architecture.md names \`${status}\``);
    }
    const runbook = read('docs/runbook.md');
    for (const state of PROVIDER_STATES) {
      assert.ok(
        runbook.includes(`| \`${state}\``),
        `docs/runbook.md explains provider state ${state}`,
      );
    }
  });

  test('header names Tegami writes are spelled in the docs as in the code, and in the mail', async () => {
    const source = read('src/http/idempotency.ts');
    const replyHeaders = [...source.matchAll(/\.header\('([A-Za-z-]+)'/g)].map((m) => m[1] ?? '');
    const written = [TEGAMI_ID_HEADER, ...Object.values(WEBHOOK_HEADERS), ...replyHeaders];
    assert.ok(replyHeaders.includes('idempotent-replayed'));
    const problems: string[] = [];
    for (const name of written) {
      let found = 0;
      for (const { path, text } of allDocs()) {
        for (const m of text.matchAll(new RegExp(`(?<![\\w-])${name}(?![\\w-])`, 'gi'))) {
          found++;
          // All lower case is how Node and most HTTP libraries hand headers to code.
          if (m[0] !== name && m[0] !== name.toLowerCase())
            problems.push(`${path}: "${m[0]}" is written "${name}"`);
        }
      }
      if (found === 0) problems.push(`no document mentions the header ${name}`);
    }
    assert.deepEqual(problems, []);
    const mime = await renderMime({ id: 'msg_x', attempt: 1, content: minimalContent() });
    const headerLines = mime.toString().split('\r\n\r\n')[0]?.split('\r\n') ?? [];
    assert.ok(headerLines.includes(`${TEGAMI_ID_HEADER}: msg_x`), 'the mail carries it so');
  });

  test('every TEGAMI_* variable the docs name exists', () => {
    // The one list of names (src/cli/variables.ts): the configuration, the variable a command
    // reads as its input, the test runner's and the examples' own. A name quoted in the warning
    // about unknown variables is one on purpose.
    const problems: string[] = [];
    for (const { path, text } of allDocs()) {
      for (const match of text.matchAll(/TEGAMI_[A-Z_]*[A-Z]/g)) {
        const [name] = match;
        const after = text.slice(match.index + name.length);
        if (after.startsWith(' is not a Tegami variable')) continue;
        // A family of names: TEGAMI_TEST_*.
        const known = after.startsWith('_*')
          ? `${name}_` === TEST_VARIABLE_PREFIX
          : isKnownVariable(name);
        if (!known) problems.push(`${path}: ${name}${after.startsWith('_*') ? '_*' : ''}`);
      }
    }
    assert.deepEqual([...new Set(problems)], []);
  });
});
