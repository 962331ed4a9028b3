// tegami-test: no-database

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  CONFIGURATION_VARIABLES,
  INPUT_VARIABLES,
  isKnownVariable,
  OTHER_VARIABLES,
  TEST_VARIABLE_PREFIX,
  unknownVariables,
} from '../src/cli/variables.ts';

/**
 * src/cli/variables.ts is the one list of TEGAMI_* names: what Tegami reads, and what is set
 * beside it. Any name the code reads and the list lacks would be warned about as a misspelling at
 * every start; a name the list keeps after the code stopped reading it would hide one.
 */

const ROOT = new URL('../', import.meta.url).pathname;

function filesUnder(folder: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(join(ROOT, folder))) {
    const path = join(folder, name);
    if (statSync(join(ROOT, path)).isDirectory()) found.push(...filesUnder(path));
    else if (/\.(ts|js)$/.test(name)) found.push(path);
  }
  return found;
}

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/**
 * TEGAMI_* names in the code: variables, and names in messages (which must be real ones too).
 * A name ending in `_` is a wildcard (`TEGAMI_ALERT_*`); constants the code declares under a
 * TEGAMI_ name (TEGAMI_ID_HEADER) are identifiers, not variables.
 */
function namesIn(paths: string[]): Map<string, string> {
  const texts = paths.map((path) => ({ path, text: read(path) }));
  const identifiers = new Set(
    texts.flatMap(({ text }) =>
      [...text.matchAll(/\bconst (TEGAMI_[A-Z0-9_]+)\s*=/g)].map((m) => m[1]),
    ),
  );
  const names = new Map<string, string>();
  for (const { path, text } of texts) {
    for (const [name] of text.matchAll(/\bTEGAMI_[A-Z0-9_]*/g)) {
      if (name.endsWith('_') || identifiers.has(name)) continue;
      if (!names.has(name)) names.set(name, path);
    }
  }
  return names;
}

describe('the list of TEGAMI_* variables', () => {
  const ownNames = new Set<string>([...CONFIGURATION_VARIABLES, ...INPUT_VARIABLES]);

  test('holds every TEGAMI_* name src/ and bin/ read or mention, and nothing they do not', () => {
    // The list itself names other variables and misspellings in its comments.
    const code = [...filesUnder('src'), ...filesUnder('bin')].filter(
      (path) => path !== 'src/cli/variables.ts',
    );
    const inCode = namesIn(code);
    assert.ok(inCode.size > 50, `found only ${inCode.size} names`);
    const missing = [...inCode].filter(([name]) => !ownNames.has(name));
    assert.deepEqual(
      missing.map(([name, path]) => `${path}: ${name}`),
      [],
      'names missing from src/cli/variables.ts',
    );
    const stale = [...ownNames].filter((name) => !inCode.has(name));
    assert.deepEqual(stale, [], 'names on the list that the code no longer reads');
  });

  test('holds exactly the names src/cli/config.ts reads as its configuration', () => {
    const config = new Set(
      read('src/cli/config.ts')
        .match(/'TEGAMI_[A-Z0-9_]+'|env\.TEGAMI_[A-Z0-9_]+/g)
        ?.map((m) => m.replace(/^env\.|'/g, '')),
    );
    assert.deepEqual([...CONFIGURATION_VARIABLES].sort(), [...config].sort());
    assert.equal(new Set(CONFIGURATION_VARIABLES).size, CONFIGURATION_VARIABLES.length);
  });

  test('knows every variable the tests, benchmarks and scripts read, and lists no other', () => {
    const tools = [...filesUnder('test'), ...filesUnder('bench'), ...filesUnder('scripts')];
    const texts = tools.map(read).join('\n');
    const readFromEnv = new Set(
      [...texts.matchAll(/(?:process\.)?env\.(TEGAMI_[A-Z0-9_]+)/g)].map((m) => m[1] ?? ''),
    );
    assert.ok(readFromEnv.has('TEGAMI_CHROMIUM'), [...readFromEnv].join(', '));
    assert.deepEqual(
      [...readFromEnv].filter((name) => !isKnownVariable(name)),
      [],
      'variables read by test/, bench/ or scripts/ but unknown to src/cli/variables.ts',
    );
    // TEGAMI_KEY is the docs' shell variable; the others must still be read somewhere.
    const used = (name: string) =>
      readFromEnv.has(name) || (name === 'TEGAMI_KEY' && read('README.md').includes('$TEGAMI_KEY'));
    assert.deepEqual(
      OTHER_VARIABLES.filter((name) => !used(name)),
      [],
      'names on OTHER_VARIABLES nobody reads',
    );
  });

  test('the test runner passes its own variables to every tegami it starts: none is warned about', () => {
    assert.deepEqual(
      unknownVariables({ [`${TEST_VARIABLE_PREFIX}ENGINE`]: 'sqlite', TEGAMI_KEY: 'tgm_x' }),
      [],
    );
  });
});

describe('an unknown variable and what it may have meant', () => {
  const meant = (name: string) => unknownVariables({ [name]: '1' })[0]?.suggestions;

  test('a bare PORT or HOST is the API listener', () => {
    assert.deepEqual(meant('TEGAMI_PORT'), ['TEGAMI_HTTP_PORT']);
    assert.deepEqual(meant('TEGAMI_HOST'), ['TEGAMI_HTTP_HOST']);
  });

  test('by spelling: a typo, a missing underscore, swapped letters, the wrong case', () => {
    assert.deepEqual(meant('TEGAMI_LOGLEVEL'), ['TEGAMI_LOG_LEVEL']);
    assert.deepEqual(meant('TEGAMI_SMTP_PROT'), ['TEGAMI_SMTP_PORT']);
    assert.deepEqual(meant('TEGAMI_DATABASE_URI'), ['TEGAMI_DATABASE_URL']);
    assert.deepEqual(meant('TEGAMI_http_port'), ['TEGAMI_HTTP_PORT']);
  });

  test('by words: the known name with every word and the fewest others', () => {
    assert.deepEqual(meant('TEGAMI_SENDGRID_KEY'), ['TEGAMI_SENDGRID_API_KEY']);
    assert.deepEqual(meant('TEGAMI_UNIT_RATE_LIMIT'), ['TEGAMI_UNIT_RATE_LIMIT_PER_MIN']);
    assert.deepEqual(meant('TEGAMI_WEBHOOK_ALLOW_PRIVATE'), ['TEGAMI_WEBHOOKS_ALLOW_PRIVATE']);
    assert.deepEqual(meant('TEGAMI_API_KEY'), [
      'TEGAMI_BOOTSTRAP_API_KEY',
      'TEGAMI_SENDGRID_API_KEY',
    ]);
  });

  test('nothing close: no suggestion; an empty variable is unset and not mentioned', () => {
    assert.deepEqual(meant('TEGAMI_FOO'), []);
    assert.deepEqual(unknownVariables({ TEGAMI_PORT: '' }), []);
    assert.deepEqual(unknownVariables({ PORT: '1', TEGAMI_HTTP_PORT: '1' }), []);
  });
});
