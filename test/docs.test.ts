import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ERROR_CODES } from '../src/api/error-codes.ts';

/** The docs must not drift from the code: error codes, environment variables, the quick start. */

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
    assert.deepEqual(unknown, [], 'codes in docs/api-errors.md that src/api/error-codes.ts lacks');
  });

  test('docs/configuration.md documents every TEGAMI_* variable that src/config.ts reads', () => {
    const names = new Set(read('src/config.ts').match(/TEGAMI_[A-Z_]+/g) ?? []);
    assert.ok(names.size > 0, 'found no TEGAMI_* names in src/config.ts');
    const docs = read('docs/configuration.md');
    const missing = [...names].filter((name) => !docs.includes(`\`${name}\``));
    assert.deepEqual(missing, [], 'variables missing from docs/configuration.md');
  });

  test('README.md shows the quick start and the test command', () => {
    const readme = read('README.md');
    assert.ok(readme.includes('npm ci && npm start'), 'README.md lacks `npm ci && npm start`');
    assert.ok(readme.includes('npm test'), 'README.md lacks `npm test`');
  });
});
