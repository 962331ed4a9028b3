// Checks the direction of every import in src/ against the layers in docs/architecture.md, so
// the shape stays true after the next feature. Run by `npm test` (as `npm run lint:layers`).
//
//   cli → http, smtp → ops, tracking → delivery, store, providers → domain
//
// A folder may import itself and the folders listed for it, nothing else. On top of that:
// no import cycles at all (not even two files importing each other), and the domain imports no
// driver, framework or network library. Type-only imports count like any other: a type names a
// dependency just as a value does.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const SRC = join(ROOT, 'src');

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

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

// Static imports and re-exports (`import … from '…'`, `export … from '…'`, bare `import '…'`)
// and dynamic `import('…')`. Comments are stripped first so an example in a comment is no import.
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function importsOf(file) {
  const text = stripComments(readFileSync(file, 'utf8'));
  const specs = new Set();
  for (const re of [IMPORT, DYNAMIC]) {
    for (const match of text.matchAll(re)) specs.add(match[1]);
  }
  return [...specs];
}

function layerOf(file) {
  const rel = relative(SRC, file).split(/[\\/]/);
  return rel.length > 1 ? rel[0] : '(src root)';
}

export function check() {
  const problems = [];
  const files = listFiles(SRC);
  const graph = new Map();
  for (const file of files) {
    const from = layerOf(file);
    const edges = [];
    if (!(from in ALLOWED)) {
      problems.push(`${relative(ROOT, file)}: src/${from} is not a known layer (see ALLOWED)`);
    }
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        edges.push(target);
        if (!target.startsWith(SRC)) {
          problems.push(`${relative(ROOT, file)} imports ${spec}, outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (to !== from && !(ALLOWED[from] ?? []).includes(to)) {
          problems.push(
            `${relative(ROOT, file)} (${from}) imports ${relative(ROOT, target)} (${to})`,
          );
        }
      } else if (
        from === 'domain' &&
        NOT_IN_DOMAIN.some((p) => spec === p || spec.startsWith(`${p}/`))
      ) {
        problems.push(`${relative(ROOT, file)}: the domain imports ${spec}`);
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
  const { files, problems } = check();
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
