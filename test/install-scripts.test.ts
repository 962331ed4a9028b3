// tegami-test: no-database

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

/**
 * `npm ci` is a newcomer's first command and must finish without a warning. npm skips the install
 * scripts of dependencies that package.json's `allowScripts` does not name, and ends with a
 * warning listing them: every locked package with an install script is named there, allowed
 * (`true`: it must build, as better-sqlite3 must) or denied (`false`: it has a prebuilt form).
 */

const ROOT = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(new URL('package-lock.json', ROOT), 'utf8')) as {
  packages: Record<string, { hasInstallScript?: boolean }>;
};

/** The package name of a lock entry's path (`node_modules/a/node_modules/@s/b` → `@s/b`). */
function packageName(path: string): string {
  return path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

describe('install scripts', () => {
  const withScripts = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
    .map(([path]) => packageName(path));
  const allowScripts = pkg.allowScripts ?? {};

  test('every locked package with an install script is allowed or denied in allowScripts', () => {
    const uncovered = withScripts.filter((name) => !Object.hasOwn(allowScripts, name));
    assert.deepEqual(uncovered, [], 'npm ci would warn about these');
  });

  test('allowScripts names only locked packages that have install scripts', () => {
    const stale = Object.keys(allowScripts).filter((name) => !withScripts.includes(name));
    assert.deepEqual(stale, []);
  });
});
