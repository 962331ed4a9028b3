// Checks the direction of every import in src/ against the layers in docs/architecture.md, so
// the shape stays true after the next feature. Run by `npm test` (as `npm run lint:layers`).
//
//   cli → http, smtp → ops, tracking → delivery, store, providers → domain
//
// A folder may import itself and the folders listed for it, nothing else. On top of that:
// no import cycles at all (not even two files importing each other), the domain imports no
// driver, framework or network library, and no query branches on the engine (under src/store,
// outside src/store/engine/, nothing reads a handle's `.engine`: the difference belongs in the
// Dialect). Type-only imports count like any other: a type names a dependency just as a value
// does.
//
// Imports are found in TypeScript's own syntax tree (`ts.createSourceFile`), not by patterns:
// static imports and re-exports (`export * as ns` too), `import x = require(…)`, `import('…')`
// types, and dynamic imports with a quoted or template specifier; what sits in a comment, a
// string or a regular expression is no import. A relative
// specifier is resolved as tsc resolves it under NodeNext: `./a.js` is `./a.ts` (`.mjs` `.mts`,
// `.cjs` `.cts`, `.jsx` `.tsx`), a folder is its `index.ts`, so the cycle check sees every edge.
//
//   node scripts/check-layers.js [--root <dir>]   (default: this repository; checks <dir>/src)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const REPO = resolve(dirname(new URL(import.meta.url).pathname), '..');

/** Which folders each top-level folder of src/ may import (besides itself). */
export const ALLOWED = {
  domain: [],
  store: ['domain'],
  providers: ['domain'],
  delivery: ['domain'],
  tracking: ['domain'],
  ops: ['domain'],
  // HTTP calls domain services and ports; never a provider module or a store class.
  http: ['ops', 'tracking', 'delivery', 'domain'],
  // The console, like HTTP: domain services and ports, never a store class or provider module.
  console: ['ops', 'tracking', 'delivery', 'domain'],
  // SMTP submission: a front for the API's `POST /v1/messages`, handed to it by the wiring.
  smtp: ['domain'],
  cli: [
    'console',
    'http',
    'smtp',
    'ops',
    'tracking',
    'delivery',
    'store',
    'providers',
    'domain',
    'simulator',
  ],
  // The simulator stands in for SendGrid: it shares nothing with Tegami's own code.
  simulator: [],
};

/** Packages the pure domain must never reach for: they belong to adapters. */
const NOT_IN_DOMAIN = [
  'better-sqlite3',
  'fastify',
  'kysely',
  'nodemailer',
  'pg',
  'pino',
  'undici',
  'node:http',
  'node:https',
  'node:net',
  'node:fs',
  'smtp-server',
  'mailparser',
  'libmime',
];

/** The source files scanned: every kind tsc compiles here. */
const SOURCE = /\.(?:ts|mts|cts|tsx)$/;

/** What tsc reads for a specifier ending in a JavaScript extension (NodeNext). */
const SOURCE_OF = {
  '.js': ['.ts', '.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
  '.jsx': ['.tsx'],
};
const INDEX_FILES = ['index.ts', 'index.tsx', 'index.mts', 'index.cts'];

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else if (SOURCE.test(name)) out.push(path);
  }
  return out;
}

/**
 * Every module specifier `text` imports, in the order they appear, read off TypeScript's syntax
 * tree: `ts.preProcessFile` alone skipped `export * as ns from '…'`, and its scanner takes a
 * regular expression holding `/*` or a backtick for the start of a comment or a template.
 */
export function importsOfText(text) {
  const source = ts.createSourceFile('check.tsx', text, ts.ScriptTarget.Latest, false);
  const found = [];
  const literal = (node) =>
    node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))
      ? node.text
      : null;
  const visit = (node) => {
    let specifier = null;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      specifier = literal(node.moduleSpecifier);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference)
    ) {
      specifier = literal(node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      specifier = literal(node.argument.literal);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      specifier = literal(node.arguments[0]);
    }
    if (specifier !== null) found.push(specifier);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...new Set(found)];
}

export function importsOf(file) {
  return importsOfText(readFileSync(file, 'utf8'));
}

/** Whether the path is a file (not a folder). */
function isFile(path) {
  return existsSync(path) && statSync(path).isFile();
}

/**
 * The source file a path specifier names: itself if it is one, its TypeScript source for a
 * JavaScript extension, a folder's index, or the name with a source extension added. A path
 * that names nothing is returned as it is: its layer is still its folder's.
 */
export function resolveSource(target) {
  if (SOURCE.test(target) && isFile(target)) return target;
  const ext = extname(target);
  for (const to of SOURCE_OF[ext] ?? []) {
    const source = target.slice(0, -ext.length) + to;
    if (isFile(source)) return source;
  }
  if (existsSync(target) && statSync(target).isDirectory()) {
    for (const index of INDEX_FILES) if (isFile(join(target, index))) return join(target, index);
  }
  for (const to of ['.ts', '.tsx', '.mts', '.cts']) if (isFile(target + to)) return target + to;
  return target;
}

/**
 * Where a file reads a handle's engine: `x.engine`, `x?.engine`, `x['engine']`, or `engine`
 * taken apart from an object (`const { engine } = handle`). Lines from 1.
 */
export function engineReadsOf(text, fileName = 'file.ts') {
  // No file reads it without writing the word: most files are never parsed.
  if (!text.includes('engine')) return [];
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const lines = [];
  const at = (node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const nameOf = (node) => (ts.isIdentifier(node) || ts.isStringLiteral(node) ? node.text : '');
  const visit = (node) => {
    if (ts.isPropertyAccessExpression(node) && node.name.text === 'engine') lines.push(at(node));
    else if (
      ts.isElementAccessExpression(node) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      node.argumentExpression.text === 'engine'
    ) {
      lines.push(at(node));
    } else if (
      ts.isBindingElement(node) &&
      ts.isObjectBindingPattern(node.parent) &&
      nameOf(node.propertyName ?? node.name) === 'engine'
    ) {
      lines.push(at(node));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

/** Whether `spec` names a file by its path rather than a package. */
function isPath(spec) {
  return spec.startsWith('.') || isAbsolute(spec);
}

/** Whether `spec` is one of `packages` or inside one (`node:fs/promises`, `fs` for `node:fs`). */
function namesPackage(spec, packages) {
  const names = spec.startsWith('node:') ? [spec] : [spec, `node:${spec}`];
  return packages.some((p) => names.some((n) => n === p || n.startsWith(`${p}/`)));
}

export function check(root = REPO) {
  const ROOT = resolve(root);
  const SRC = join(ROOT, 'src');
  const STORE = join(SRC, 'store') + sep;
  const ENGINE = join(SRC, 'store', 'engine') + sep;
  const layerOf = (file) => {
    const rel = relative(SRC, file).split(/[\\/]/);
    return rel.length > 1 ? rel[0] : '(src root)';
  };
  const problems = [];
  const files = listFiles(SRC);
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const from = layerOf(file);
    const edges = [];
    if (!(from in ALLOWED)) {
      problems.push(`${relative(ROOT, file)}: src/${from} is not a known layer (see ALLOWED)`);
    }
    for (const spec of importsOfText(text)) {
      if (isPath(spec)) {
        const target = resolveSource(resolve(dirname(file), spec));
        edges.push(target);
        if (!target.startsWith(SRC + sep)) {
          problems.push(`${relative(ROOT, file)} imports ${spec}, outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (to !== from && !(ALLOWED[from] ?? []).includes(to)) {
          problems.push(
            `${relative(ROOT, file)} (${from}) imports ${relative(ROOT, target)} (${to})`,
          );
        }
      } else if (from === 'domain' && namesPackage(spec, NOT_IN_DOMAIN)) {
        problems.push(`${relative(ROOT, file)}: the domain imports ${spec}`);
      }
    }
    if (file.startsWith(STORE) && !file.startsWith(ENGINE)) {
      for (const line of engineReadsOf(text, file)) {
        problems.push(
          `${relative(ROOT, file)}:${line} reads a handle's .engine: a query must not branch on ` +
            'the engine; put the difference in the Dialect (src/store/engine/handle.ts, ' +
            'handle.dialect) and implement it for both engines',
        );
      }
    }
    graph.set(file, edges);
  }
  for (const cycle of cycles(graph)) {
    problems.push(`import cycle: ${cycle.map((f) => relative(ROOT, f)).join(' → ')}`);
  }
  return { files: files.length, problems };
}

/** Strongly connected components of more than one file (Tarjan), each shown as a path. */
function cycles(graph) {
  let index = 0;
  const stack = [];
  const onStack = new Set();
  const indices = new Map();
  const low = new Map();
  const found = [];
  const visit = (node) => {
    indices.set(node, index);
    low.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), indices.get(next)));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push([...component.reverse(), component[0]]);
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--root');
  if ((at !== -1 && !args[at + 1]) || args.length !== (at === -1 ? 0 : 2)) {
    console.error('Usage: node scripts/check-layers.js [--root <dir>]');
    process.exit(64);
  }
  const { files, problems } = check(at === -1 ? REPO : args[at + 1]);
  if (problems.length > 0) {
    console.error(`Layer check: ${problems.length} problem(s) in ${files} files under src/:`);
    for (const p of problems) console.error(`  ${p}`);
    console.error(
      '\nThe allowed directions are in scripts/check-layers.js and docs/architecture.md.',
    );
    process.exit(1);
  }
  console.log(`Layer check: ${files} files under src/, every import points down, no cycles.`);
}
