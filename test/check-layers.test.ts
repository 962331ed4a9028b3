// tegami-test: no-database

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';

/**
 * scripts/check-layers.js (`npm run lint:layers`, in `npm test`) against small trees of its own:
 * each import form it once missed (a cycle through `.js` specifiers, an import after a string
 * holding `/*`, a dynamic import with a template literal, .mts/.cts/.tsx files), a query that
 * branches on the engine, the checks it made before, and a clean tree that passes.
 */

const SCRIPT = new URL('../scripts/check-layers.js', import.meta.url).pathname;
const trees: string[] = [];

after(() => {
  for (const dir of trees) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway repository holding `files` (paths from its root). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'check-layers-'));
  trees.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** Runs the script on `root`: its exit code and the problems it listed, one per line. */
function checkLayers(root: string): Promise<{ code: number; out: string; problems: string[] }> {
  return new Promise((done) => {
    execFile(process.execPath, [SCRIPT, '--root', root], (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      const problems = stderr
        .split('\n')
        .filter((line) => line.startsWith('  '))
        .map((line) => line.trim());
      done({ code, out: stdout + stderr, problems });
    });
  });
}

describe('the layer check (scripts/check-layers.js)', () => {
  test('passes a clean tree: imports down, comments, strings, every source extension', async () => {
    const root = tree({
      'src/domain/types.ts': 'export type Id = string;\n',
      'src/domain/ids.ts': [
        "import type { Id } from './types.js';",
        '// import { openDatabase } from "../store/index.ts"; (a comment is no import)',
        "const accept = 'text/*'; // not a comment's start",
        '/* export * from "../cli/main.ts" */',
        'export const first: Id = accept;',
        '',
      ].join('\n'),
      'src/domain/ports/index.ts': "export * from '../types.ts';\n",
      'src/store/index.ts': "import { first } from '../domain/ids.ts';\nexport const a = first;\n",
      'src/store/engine/handle.ts':
        "export const engine = (h: { engine: string }) => h.engine === 'postgres';\n",
      'src/store/delivery/complete.ts': [
        "import type { Id } from '../../domain/ports';",
        "// handle.engine === 'postgres' was here; the dialect says it now",
        "const text = 'handle.engine';",
        'export const engineName = (h: { dialect: { writesInWith: boolean } }, id: Id) =>',
        '  h.dialect.writesInWith ? text : id;',
        '',
      ].join('\n'),
      'src/http/routes/messages.ts':
        "export const load = () => import(`../../delivery/worker.js`);\nimport '../../ops/run.mjs';\n",
      'src/delivery/worker.ts': "import { first } from '../domain/ids.js';\nexport { first };\n",
      'src/ops/run.mts': "import '../domain/ids.js';\n",
      'src/ops/old.cts': "import x = require('../domain/types.js');\nexport = x;\n",
      'src/console/page.tsx':
        "import type { Id } from '../domain/types.ts';\nexport type P = Id;\n",
      'src/cli/main.ts': "import '../store/index.ts';\nimport '../http/routes/messages.ts';\n",
    });
    const { code, out } = await checkLayers(root);
    assert.equal(code, 0, out);
    assert.match(out, /Layer check: 12 files under src\/, every import points down, no cycles\./);
  });

  test('sees a cycle of two files that import each other with .js specifiers', async () => {
    const root = tree({
      'src/domain/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'src/domain/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(
      problems[0] ?? '',
      /^import cycle: src\/domain\/(a|b)\.ts → src\/domain\/(a|b)\.ts → src\/domain\/(a|b)\.ts$/,
    );
  });

  test('sees a cycle through a folder import (its index.ts)', async () => {
    const root = tree({
      'src/store/index.ts': "export { run } from './run.ts';\n",
      'src/store/run.ts': "import { run as again } from '.';\nexport const run = () => again;\n",
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(
      problems.map((p) => p.startsWith('import cycle: src/store/')),
      [true],
      problems.join('\n'),
    );
  });

  test('sees an import after a string holding /*, before a later // */', async () => {
    const root = tree({
      'src/store/db.ts': 'export const db = 1;\n',
      'src/domain/accept.ts': [
        "export const accept = 'text/*';",
        "import { db } from '../store/db.ts';",
        'export const x = db; // */',
        '',
      ].join('\n'),
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(problems, ['src/domain/accept.ts (domain) imports src/store/db.ts (store)']);
  });

  test('sees export * as, and an import after a regular expression holding /* or a backtick', async () => {
    const root = tree({
      'src/store/db.ts': 'export const db = 1;\n',
      'src/domain/all.ts': "export * as store from '../store/db.ts';\n",
      'src/domain/match.ts': [
        'export const star = /[/*]/;',
        'export const tick = /`/;',
        "import { db } from '../store/db.ts';",
        'export const x = db; // */ `',
        '',
      ].join('\n'),
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(problems.sort(), [
      'src/domain/all.ts (domain) imports src/store/db.ts (store)',
      'src/domain/match.ts (domain) imports src/store/db.ts (store)',
    ]);
  });

  test('sees a dynamic import with a template literal', async () => {
    const root = tree({
      'src/store/index.ts': 'export const db = 1;\n',
      'src/http/routes/send.ts':
        'export async function send() {\n  return (await import(`../../store/index.ts`)).db;\n}\n',
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(problems, [
      'src/http/routes/send.ts (http) imports src/store/index.ts (store)',
    ]);
  });

  test('scans .mts, .cts and .tsx files', async () => {
    const root = tree({
      'src/store/index.ts': 'export const db = 1;\n',
      'src/domain/a.mts': "import { db } from '../store/index.ts';\nexport const a = db;\n",
      'src/domain/b.cts': "import s = require('../store/index.js');\nexport = s;\n",
      'src/console/c.tsx': "export { db } from '../store/index.ts';\n",
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(problems.sort(), [
      'src/console/c.tsx (console) imports src/store/index.ts (store)',
      'src/domain/a.mts (domain) imports src/store/index.ts (store)',
      'src/domain/b.cts (domain) imports src/store/index.ts (store)',
    ]);
  });

  test("refuses a query that reads a handle's .engine, outside src/store/engine/", async () => {
    const root = tree({
      'src/store/engine/open.ts': 'export const isPg = (h: { engine: string }) => h.engine;\n',
      'src/store/delivery/complete.ts': [
        'type H = { engine: string };',
        "export const a = (handle: H) => handle.engine === 'postgres';",
        "export const b = (handle?: H) => handle?.engine !== 'sqlite';",
        "export const c = (handle: H) => handle['engine'];",
        'export function d(handle: H) {',
        '  const { engine } = handle;',
        '  return engine;',
        '}',
        '',
      ].join('\n'),
      'src/cli/wire.ts': 'export const pg = (d: { engine: string }) => d.engine;\n',
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(
      problems.map((p) => p.split(' ')[0]),
      [2, 3, 4, 6].map((line) => `src/store/delivery/complete.ts:${line}`),
      problems.join('\n'),
    );
    for (const p of problems) assert.match(p, /reads a handle's \.engine: .*the Dialect/);
  });

  test('keeps its other checks: unknown layers, imports outside src/, the pure domain', async () => {
    const root = tree({
      'lib/util.ts': 'export const u = 1;\n',
      'src/extras/thing.ts': 'export const t = 1;\n',
      'src/store/util.ts': "import { u } from '../../lib/util.js';\nexport const v = u;\n",
      'src/domain/io.ts': [
        "import { readFile } from 'node:fs/promises';",
        "import pg from 'pg';",
        "import { ulid } from 'ulidx';",
        'export { readFile, pg, ulid };',
        '',
      ].join('\n'),
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(problems.sort(), [
      'src/domain/io.ts: the domain imports node:fs/promises',
      'src/domain/io.ts: the domain imports pg',
      'src/extras/thing.ts: src/extras is not a known layer (see ALLOWED)',
      'src/store/util.ts imports ../../lib/util.js, outside src/',
    ]);
  });

  test('takes a folder beside src/ whose name starts with src for outside, fs for node:fs', async () => {
    const root = tree({
      'src-other/x.ts': 'export const x = 1;\n',
      'src/store/other.ts': "import { x } from '../../src-other/x.ts';\nexport const y = x;\n",
      'src/domain/io.ts': "import { writeFileSync } from 'fs';\nexport { writeFileSync };\n",
    });
    const { code, problems } = await checkLayers(root);
    assert.equal(code, 1);
    assert.deepEqual(problems.sort(), [
      'src/domain/io.ts: the domain imports fs',
      'src/store/other.ts imports ../../src-other/x.ts, outside src/',
    ]);
  });
});
