import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import pino from 'pino';
import { createApiKey } from '../src/domain/api-keys.ts';
import { WEBHOOK_EVENT_TYPES } from '../src/domain/status-webhooks.ts';
import { ERROR_CODES } from '../src/http/errors.ts';
import { SqlApiKeyStore } from '../src/store/index.ts';
import {
  createUnitWithKey,
  message,
  postUnsignedEvents,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { startCaptureServer } from './support/capture-server.ts';
import { fuzzRuns } from './support/fuzz.ts';
import { rowCounts } from './support/row-counts.ts';

/**
 * A property test of the whole API, driven by its OpenAPI document: every operation the document
 * lists is called with its plain valid request (which must be accepted), and then, run after run,
 * with one part of that request made hostile (the API key, a path or query parameter, the body,
 * the headers, the method, a used-up sending limit, or 2 to 4 copies at once), or all of them.
 * Against a service holding real data in three units, it checks that no answer is a 5xx, that
 * every error has the documented shape, that a refused request changes no table, and that a unit
 * key never gets a 2xx on another unit's objects. Afterwards every accepted message must be sent
 * and rendered, and the service must have logged no error. Runs: TEGAMI_TEST_FUZZ_RUNS.
 */

const RUNS = fuzzRuns(200);
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Requests

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = Record<string, unknown>;

/** One operation of the OpenAPI document. */
interface Operation {
  key: string;
  method: string;
  path: string;
  pathParams: string[];
  query: { name: string; schema: Schema }[];
  body: Schema | null;
  /** It answers 429 over the unit's sending limit. */
  limited: boolean;
}

/** A request before it is sent: the document's path template and its parts, each changeable. */
interface Req {
  method: string;
  path: string;
  params: Record<string, string>;
  /** Path parameters as written (not percent-encoded). */
  rawParams?: boolean;
  suffix?: string;
  query: [string, string][];
  rawQuery?: string;
  body?: Json;
  /** The body as sent, instead of `body`. */
  text?: string;
  gzip?: 'valid' | 'bomb';
  /** null: the header is left out. */
  headers: Record<string, string | null>;
  authorization: string | null;
}

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
  /** The path as it reached the server (after the URL parser). */
  pathname: string;
  /** Set when no answer came (the connection was closed). */
  error?: string;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function urlOf(base: string, req: Req): string {
  const path =
    req.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = req.params[name] ?? '';
      // A URL holds UTF-8: a lone surrogate cannot be sent (RAW_SEGMENTS has its bytes).
      return req.rawParams ? value : encodeURIComponent(value.replace(LONE_SURROGATE, '\ufffd'));
    }) + (req.suffix ?? '');
  const query = [new URLSearchParams(req.query).toString(), req.rawQuery ?? '']
    .filter((part) => part !== '')
    .join('&');
  return `${base}${path}${query ? `?${query}` : ''}`;
}

let bomb: Buffer | null = null;
/** Small on the wire, 64 MiB unpacked: past every body limit. */
function gzipBomb(): Buffer {
  bomb ??= gzipSync(Buffer.alloc(64 * 1024 * 1024));
  return bomb;
}

async function send(base: string, req: Req): Promise<Answer> {
  const url = urlOf(base, req);
  const pathname = new URL(url).pathname;
  const headers: Record<string, string> = {};
  let body: string | Buffer | undefined =
    req.text ?? (req.body === undefined ? undefined : JSON.stringify(req.body));
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (req.authorization !== null) headers.authorization = req.authorization;
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  if (req.gzip === 'valid') body = gzipSync(body ?? '');
  if (req.gzip === 'bomb') body = gzipBomb();
  if (req.method === 'GET' || req.method === 'HEAD') body = undefined;
  try {
    const response = await fetch(url, {
      method: req.method,
      headers,
      redirect: 'manual',
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON; kept as text
    }
    return { status: response.status, body: parsed, headers: response.headers, pathname };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      status: 0,
      body: null,
      headers: new Headers(),
      pathname,
      error: `${String(error)} (${cause?.code ?? cause?.message ?? 'no cause'})`,
    };
  }
}

const brief = (value: unknown, length = 300) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return (text ?? String(value)).slice(0, length);
};

function describeReq(req: Req): string {
  const text = req.text ?? (req.body === undefined ? '' : JSON.stringify(req.body));
  return `${req.method} ${urlOf('', req).slice(0, 300)} auth=${brief(req.authorization, 60)} headers=${brief(req.headers, 200)}${req.gzip ? ` gzip=${req.gzip}` : ''} body=${text.slice(0, 300)}`;
}

// ---------------------------------------------------------------------------------------------
// The documented error shapes

/**
 * What Node's HTTP server refuses before any route is known (headers over 16 KiB, a request that
 * is not valid HTTP, one too slow): answered in /v1's shape whatever the path
 * (docs/api-errors.md), /v3's included.
 */
function refusedBeforeRouting(answer: Answer): boolean {
  const error = (answer.body as { error?: { code?: string; message?: string } } | null)?.error;
  return (
    (answer.status === 431 && error?.code === 'headers_too_large') ||
    (answer.status === 408 && error?.code === 'request_timeout') ||
    (answer.status === 400 && /not valid HTTP/.test(error?.message ?? ''))
  );
}

function checkErrorShape(answer: Answer, what: string): void {
  if (answer.pathname.startsWith('/v3/') && !refusedBeforeRouting(answer)) {
    // SendGrid's shape, with SendGrid's statuses (docs/sendgrid-compatibility.md).
    const body = answer.body as { errors?: { message?: unknown; field?: unknown }[] };
    assert.ok(
      Array.isArray(body?.errors) && body.errors.length > 0,
      `${what}: SendGrid's {"errors": [...]}, got ${brief(answer.body)}`,
    );
    for (const e of body.errors) {
      assert.equal(typeof e.message, 'string', `${what}: each error has a message`);
      assert.ok(e.field === null || typeof e.field === 'string', `${what}: field is text or null`);
    }
    return;
  }
  // A path the URL parser took elsewhere (`%2e%2e`) may be the console's, with its own pages.
  if (!answer.pathname.startsWith('/v1/') && !answer.pathname.startsWith('/v3/')) return;
  const body = answer.body as {
    error?: { code?: unknown; message?: unknown; details?: unknown; details_omitted?: unknown };
  };
  assert.ok(body?.error, `${what}: {"error": {...}}, got ${brief(answer.body)}`);
  const code = body.error.code as keyof typeof ERROR_CODES;
  assert.ok(Object.hasOwn(ERROR_CODES, code), `${what}: a documented code, got ${String(code)}`);
  assert.equal(ERROR_CODES[code].status, answer.status, `${what}: ${code} has its own status`);
  assert.equal(typeof body.error.message, 'string', `${what}: a message`);
  if (body.error.details !== undefined) {
    assert.ok(Array.isArray(body.error.details), `${what}: details is a list`);
    for (const d of body.error.details as { field?: unknown; message?: unknown }[]) {
      assert.equal(typeof d.field, 'string', `${what}: each detail names its field`);
      assert.equal(typeof d.message, 'string', `${what}: each detail has a message`);
    }
  }
  if (body.error.details_omitted !== undefined) {
    assert.ok(Number.isInteger(body.error.details_omitted), `${what}: details_omitted`);
  }
}

// ---------------------------------------------------------------------------------------------
// Values from the document's schemas

/** Values at and past the edges of a schema: valid ones, and ones just outside it. */
function edgeValues(schema: Schema): Json[] {
  const out: Json[] = [];
  if ('const' in schema) out.push(schema.const as Json);
  if (Array.isArray(schema.enum)) out.push(...(schema.enum as Json[]));
  for (const alternative of (schema.anyOf ?? schema.oneOf ?? []) as Schema[]) {
    out.push(...edgeValues(alternative));
  }
  const min = schema.minimum as number | undefined;
  const max = schema.maximum as number | undefined;
  switch (schema.type) {
    case 'string': {
      const longest = schema.maxLength as number | undefined;
      const shortest = (schema.minLength as number | undefined) ?? 0;
      out.push('', 'a', 'ä', '2026-01-05T10:00', '2026-02-30T10:00:00Z', '0', '-1', 'true');
      if (longest !== undefined) {
        out.push('x'.repeat(longest), 'x'.repeat(longest + 1), '髙'.repeat(longest + 1));
      }
      if (shortest > 1) out.push('x'.repeat(shortest - 1));
      if (schema.pattern) out.push('9999', '00001', '1'.repeat(20));
      break;
    }
    case 'integer':
    case 'number':
      out.push(0, -1, 1.5, 2 ** 53, -(2 ** 31));
      if (min !== undefined) out.push(min, min - 1);
      if (max !== undefined) out.push(max, max + 1);
      break;
    case 'boolean':
      out.push(true, false);
      break;
    case 'array': {
      const items = edgeValues((schema.items as Schema | undefined) ?? {});
      out.push([], items.slice(0, 3));
      const most = schema.maxItems as number | undefined;
      if (most !== undefined && most < 2000) out.push(Array(most + 1).fill(items[0] ?? 1));
      break;
    }
    case 'object':
      out.push({}, { unknown_field: 1 });
      break;
    case 'null':
      out.push(null);
      break;
  }
  return out.length > 0 ? out : [null, 'text', 1, {}];
}

/** Every property of a body schema with its path: top-level ones and those of nested objects. */
function schemaProperties(schema: Schema, path: string[] = []): [string[], Schema][] {
  const out: [string[], Schema][] = [];
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, property] of Object.entries(properties)) {
    out.push([[...path, name], property]);
    if (path.length === 0 && property.type === 'object') {
      out.push(...schemaProperties(property, [name]));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries: what to make hostile, as data, applied to the valid request of the run

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
const hostileText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: codeUnit, maxLength: 12 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\uFEFF',
    '\ud800',
    'null',
    '0',
    '-1',
    '1e309',
    '__proto__',
    'constructor',
    '../..',
    '%00',
    '\r\nX-Injected: yes',
    '😀'.repeat(40),
    'İı',
    'ﷺ',
    '髙﨑@例え.jp',
  ),
);

/** A value the test builds when it applies the change: large or deep texts stay cheap here. */
type Special =
  | { tag: 'huge'; size: number; char: string }
  | { tag: 'deep'; depth: number; open: '[' | '{' }
  | { tag: 'raw'; text: string };
type Value = Json | { special: Special };

const hugeValue = fc
  .record({
    size: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1_000, max: 300_000 }) },
      { weight: 1, arbitrary: fc.constant(11 * 1024 * 1024) }, // past the 10 MiB body limit
    ),
    char: fc.constantFrom('x', '髙', '😀', '\u0000', '"'),
  })
  .map((h) => ({ special: { tag: 'huge' as const, ...h } }));
const deepValue = fc
  .record({ depth: fc.integer({ min: 50, max: 20_000 }), open: fc.constantFrom('[', '{') })
  .map((d) => ({
    special: { tag: 'deep' as const, ...(d as { depth: number; open: '[' | '{' }) },
  }));
const rawValue = fc
  .constantFrom(
    '1e400',
    '-0',
    '1.0e-400',
    '"\\ud800"',
    '"\\u0000"',
    '123456789012345678901234567890',
  )
  .map((text) => ({ special: { tag: 'raw' as const, text } }));

const anyValue: fc.Arbitrary<Value> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 4, arbitrary: hostileText },
  { weight: 1, arbitrary: hugeValue },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: rawValue },
);

const keyName = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '', 'unit', 'admin', 'id', 'dry_run'),
);

const authChange = fc.oneof(
  fc.constant({ kind: 'missing' as const }),
  fc.constant({ kind: 'revoked' as const }),
  fc
    .constantFrom(
      'Bearer',
      'Bearer ',
      'Basic dGVzdDp0ZXN0',
      'bearer <key>',
      'BEARER   <key>  ',
      'Bearer <key>x',
      'Bearer SG.<key>',
      'Bearer <key> extra',
      'Token <key>',
      'Bearer "<key>"',
      `Bearer tgm_${'x'.repeat(4000)}`,
    )
    .map((template) => ({ kind: 'template' as const, template })),
  fc
    .stringMatching(/^[\x20-\x7e]{0,60}$/)
    .map((value) => ({ kind: 'text' as const, value: value.trim() })),
);

/** Long texts for a URL: past Node's 16 KiB for a request line and headers, or not. */
const urlHuge = hugeValue.map((h) => ({
  special: { ...h.special, size: h.special.size % 30_000 },
}));

/** Path segments sent as written: bad escapes, dot segments, bytes that are not UTF-8. */
const RAW_SEGMENTS = [
  '%',
  '%zz',
  '%00',
  '..',
  '%2e%2e',
  '%2F',
  '%c3%28',
  '%ed%a0%80',
  '%ff',
  '.',
  '%20',
];
const pathChange = fc.record({
  pick: fc.nat(),
  value: fc.oneof(
    { weight: 3, arbitrary: hostileText as fc.Arbitrary<Value> },
    { weight: 1, arbitrary: urlHuge },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(...RAW_SEGMENTS)
        .map((text) => ({ special: { tag: 'raw' as const, text } })),
    },
    {
      weight: 2,
      arbitrary: fc.nat().map((n) => ({ special: { tag: 'raw' as const, text: `@other:${n}` } })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'msg_00000000000000000000000000',
        'whk_x',
        'unit_',
        'default',
        'sandbox',
        'TEST',
      ),
    },
  ),
  suffix: fc.constantFrom('/', '//', '/x', '/%00', '/..', '?', ''),
});

const queryChange = fc.oneof(
  fc.record({ kind: fc.constant('unknown' as const), name: keyName, value: hostileText }),
  fc.record({ kind: fc.constant('documented' as const), pick: fc.nat(), seed: fc.nat() }),
  fc.record({
    kind: fc.constant('hostile' as const),
    pick: fc.nat(),
    value: fc.oneof(hostileText, urlHuge),
  }),
  fc.record({ kind: fc.constant('repeat' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('raw' as const),
    text: fc.constantFrom(
      '%zz=1',
      '&&&',
      '=',
      'limit',
      'limit=%00',
      'a[b]=1',
      'cursor=%ff%fe',
      `x=${'%41'.repeat(3000)}`,
      'limit=1&limit=2',
    ),
  }),
);

const bodyChange = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), pick: fc.nat(), value: anyValue }),
  fc.record({ kind: fc.constant('add' as const), pick: fc.nat(), name: keyName, value: anyValue }),
  fc.record({ kind: fc.constant('documented' as const), pick: fc.nat(), seed: fc.nat() }),
  fc.record({
    kind: fc.constant('text' as const),
    text: fc.oneof(
      fc.constantFrom(
        '',
        'null',
        '[]',
        '{',
        '{"a":1}}',
        'not json',
        '\uFEFF{}',
        '"text"',
        '1e400',
        '{"__proto__":{"admin":true}}',
        '{"a":"\\ud800"}',
      ),
      fc.string({ unit: codeUnit, maxLength: 30 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    ),
  }),
  fc.record({ kind: fc.constant('whole' as const), value: fc.oneof(hugeValue, deepValue) }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    pick: fc.nat(),
    value: fc.jsonValue({ maxDepth: 1 }),
  }),
);

const printable = fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,40}$/);
const headerChange = fc.record(
  {
    contentType: fc.oneof(
      fc.constantFrom(
        'text/plain',
        'application/json; charset=latin1',
        'application/json; charset=utf-16',
        'Application/JSON',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/merge-patch+json',
        '*/*',
        'application/json;;;',
      ),
      fc.constant(null),
      printable,
    ),
    encoding: fc.constantFrom(
      'gzip',
      'gzip-bomb',
      'gzip-not',
      'br',
      'deflate',
      'gzip, gzip',
      'identity',
      'x-gzip',
      'GZIP',
      'compress',
    ),
    idempotencyKey: fc.oneof(printable, fc.constant('x'.repeat(300)), fc.constant(' ')),
    // Rarely: past 16 KiB it is refused before anything else is looked at.
    large: fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom(8 * 1024, 17 * 1024, 40 * 1024) },
      { weight: 4, arbitrary: fc.constant(undefined) },
    ),
    accept: fc.constantFrom('text/html', 'application/xml', '*/*', 'application/json;q=0'),
    extra: fc.tuple(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,20}$/), printable),
  },
  { requiredKeys: [] },
);

const PARTS = ['auth', 'path', 'query', 'body', 'headers', 'method', 'limit', 'copies'] as const;
type Part = (typeof PARTS)[number];
/** Whose key: the admin key, a unit's own, a unit's for another unit's objects, or none. */
type Who = 'admin' | 'unit' | 'cross' | 'none';

/** The parts worth making hostile in an operation's request, weighted by what it has. */
function partWeights(op: Operation): [Part, number][] {
  const writes = op.method !== 'GET';
  return [
    ['auth', 2],
    ['path', op.pathParams.length > 0 ? 4 : 1],
    ['query', op.query.length > 0 ? 4 : 1],
    ['body', op.body || op.path.startsWith('/v3/') ? 6 : writes ? 1 : 0],
    ['headers', writes ? 3 : 1],
    ['method', 1],
    // The unit's sending limit counts mail: the operations that answer 429 for it.
    ['limit', op.limited ? 3 : 0],
    ['copies', writes ? 3 : 1],
  ];
}

const planArb = (ops: Operation[]) =>
  fc.integer({ min: 0, max: ops.length - 1 }).chain((op) =>
    fc.record({
      op: fc.constant(op),
      who: fc.oneof(
        { weight: 2, arbitrary: fc.constant<Who>('admin') },
        { weight: 3, arbitrary: fc.constant<Who>('unit') },
        { weight: 1, arbitrary: fc.constant<Who>('cross') },
        { weight: 1, arbitrary: fc.constant<Who>('none') },
      ),
      unit: fc.integer({ min: 0, max: 2 }),
      other: fc.integer({ min: 0, max: 1 }),
      parts: fc.oneof(
        ...partWeights(ops[op] as Operation)
          .filter(([, weight]) => weight > 0)
          .map(([part, weight]) => ({ weight: weight * 2, arbitrary: fc.constant([part]) })),
        // Everything at once, or nothing (the valid request, in the state the runs left).
        { weight: 3, arbitrary: fc.constant([...PARTS]) },
        { weight: 2, arbitrary: fc.constant([] as Part[]) },
      ),
      auth: authChange,
      path: pathChange,
      query: fc.array(queryChange, { minLength: 1, maxLength: 3 }),
      body: fc.array(bodyChange, { minLength: 1, maxLength: 2 }),
      headers: headerChange,
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
      copies: fc.integer({ min: 2, max: 4 }),
      /** With the copies: valid requests of other operations on the same resource, at once. */
      siblings: fc.array(fc.nat(), { maxLength: 2 }),
    }),
  );
/** One documented field set to a value, before any other change (the fields test). */
interface FieldChange {
  in: 'body' | 'query';
  path: string[];
  value: Json;
}
type Plan = (ReturnType<typeof planArb> extends fc.Arbitrary<infer T> ? T : never) & {
  field?: FieldChange;
};

// ---------------------------------------------------------------------------------------------
// Applying a plan to a valid request

/** A JSON text with the special values written in (huge texts, deep nesting, raw numbers). */
function bodyText(body: Value): string {
  const specials: Special[] = [];
  const marked = JSON.stringify(body, (_key, value) => {
    if (
      value &&
      typeof value === 'object' &&
      'special' in value &&
      Object.keys(value).length === 1
    ) {
      specials.push(value.special as Special);
      return `@@special${specials.length - 1}@@`;
    }
    return value;
  });
  return (marked ?? 'null').replace(/"@@special(\d+)@@"/g, (_, i: string) => {
    const s = specials[Number(i)] as Special;
    if (s.tag === 'raw') return s.text;
    if (s.tag === 'huge') return JSON.stringify(s.char.repeat(Math.ceil(s.size / s.char.length)));
    return s.open === '['
      ? `${'['.repeat(s.depth)}${']'.repeat(s.depth)}`
      : `${'{"a":'.repeat(s.depth)}1${'}'.repeat(s.depth)}`;
  });
}

function specialText(value: Value): string {
  if (value && typeof value === 'object' && 'special' in value) {
    const s = (value as { special: Special }).special;
    if (s.tag === 'raw') return s.text;
    if (s.tag === 'huge') return s.char.repeat(Math.ceil(s.size / s.char.length));
    return bodyText(value);
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Paths to every value in a JSON value (objects' members and arrays' items), the root first. */
function valuePaths(value: Json, path: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [path];
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) out.push(...valuePaths(v, [...path, i]));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...valuePaths(v, [...path, k]));
  }
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Value | undefined): Json {
  if (path.length === 0) return (value === undefined ? null : value) as Json;
  const copy = (root !== null && typeof root === 'object' ? structuredClone(root) : {}) as Record<
    string | number,
    unknown
  >;
  let node = copy;
  for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else {
    // defineProperty: `__proto__` becomes a real member, as JSON.parse would make it.
    Object.defineProperty(node, last, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy as Json;
}

/** `body` with the member at `path` set, the objects on the way made where missing. */
function setField(body: Json, path: string[], value: Json): Json {
  const isObject = (v: unknown): v is Record<string, Json> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  const root = isObject(body) ? structuredClone(body) : {};
  let node: Record<string, Json> = root;
  for (const step of path.slice(0, -1)) {
    const next = node[step];
    if (!isObject(next)) node[step] = {};
    node = node[step] as Record<string, Json>;
  }
  node[path[path.length - 1] as string] = value;
  return root;
}

/**
 * Values of a documented field most likely to pass its schema and fail the checks after it (an
 * empty text, a NUL), or just outside the schema: a field written before those checks ran shows.
 */
function oddValues(schema: Schema): Json[] {
  const choices = [schema, ...((schema.anyOf ?? schema.oneOf ?? []) as Schema[])];
  if (choices.some((c) => 'const' in c || Array.isArray(c.enum))) return ['not-one-of-them'];
  const typed = choices.find((c) => c.type !== undefined && c.type !== 'null') ?? schema;
  switch (typed.type) {
    case 'string': {
      const shortest = (typed.minLength as number | undefined) ?? 0;
      return ['x'.repeat(shortest), `a\u0000${'b'.repeat(shortest)}`];
    }
    case 'integer':
    case 'number':
      return [((typed.minimum as number | undefined) ?? 0) - 1];
    case 'boolean':
      return ['true'];
    case 'array':
      return [[]];
    default:
      return [{}];
  }
}

function applyBody(req: Req, op: Operation, change: Plan['body'][number]): void {
  if (req.text !== undefined) return; // an earlier change wrote the text as sent
  const body: Json = req.body === undefined ? {} : req.body;
  const paths = valuePaths(body);
  const pick = <T>(list: T[], n: number) => list[n % list.length] as T;
  switch (change.kind) {
    case 'drop':
      req.body = setAt(
        body,
        pick(paths.slice(1).length ? paths.slice(1) : [[]], change.pick),
        undefined,
      );
      break;
    case 'replace':
      req.text = bodyText(setAt(body, pick(paths, change.pick), change.value) as Value);
      break;
    case 'add': {
      const objects = paths.filter((p) => {
        let node: unknown = body;
        for (const step of p) node = (node as Record<string | number, unknown>)[step];
        return node !== null && typeof node === 'object' && !Array.isArray(node);
      });
      const at = objects.length > 0 ? pick(objects, change.pick) : [];
      req.text = bodyText(setAt(body, [...at, change.name], change.value) as Value);
      break;
    }
    case 'documented': {
      const properties = op.body ? schemaProperties(op.body) : [];
      if (properties.length === 0) {
        req.body = body;
        break;
      }
      const [path, schema] = pick(properties, change.pick);
      req.body = setField(body, path, pick(edgeValues(schema), change.seed));
      break;
    }
    case 'text':
      req.text = change.text;
      break;
    case 'whole':
      req.text = bodyText(change.value);
      break;
    case 'duplicate': {
      // The same member twice: JSON.parse keeps the last, so the first is what a lax reader sees.
      const text = JSON.stringify(body);
      const names =
        body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
      if (text.startsWith('{') && names.length > 0) {
        const name = pick(names, change.pick);
        req.text = `{${JSON.stringify(name)}:${JSON.stringify(change.value)},${text.slice(1)}`;
      } else req.text = text;
      break;
    }
  }
  if (req.text !== undefined) delete req.body;
}

function applyQuery(req: Req, op: Operation, change: Plan['query'][number]): void {
  const documented = op.query;
  const pick = <T>(list: T[], n: number) => list[n % list.length] as T;
  const present = req.query;
  switch (change.kind) {
    case 'unknown':
      present.push([change.name, change.value]);
      break;
    case 'documented': {
      if (documented.length === 0) {
        present.push(['limit', '10']);
        break;
      }
      const param = pick(documented, change.pick);
      const value = pick(edgeValues(param.schema), change.seed);
      const values = Array.isArray(value) ? value : [value];
      req.query = present.filter(([name]) => name !== param.name);
      for (const v of values)
        req.query.push([param.name, typeof v === 'string' ? v : JSON.stringify(v)]);
      break;
    }
    case 'hostile': {
      const name = documented.length > 0 ? pick(documented, change.pick).name : 'limit';
      req.query = present.filter(([n]) => n !== name);
      req.query.push([name, specialText(change.value)]);
      break;
    }
    case 'repeat':
      if (present.length > 0) present.push(pick(present, change.pick));
      else present.push(['limit', '1'], ['limit', '2']);
      break;
    case 'drop':
      if (present.length > 0) present.splice(change.pick % present.length, 1);
      break;
    case 'raw':
      req.rawQuery = change.text;
      break;
  }
}

// ---------------------------------------------------------------------------------------------

/** What the set-up made in each unit. */
interface Seed {
  /** Sent messages; the first has delivery events, the second's address bounced. */
  sent: string[];
  /** Dead letters, each retried at most once by the runs. */
  failed: string[];
  withEvents: string;
  endpointOk: string;
  /** Its receiver answers 503: it has failed status webhooks to redeliver. */
  endpointFailing: string;
  recovery: string;
  alert: string;
}

/** A valid request of an operation, made for one unit. */
interface Made {
  req: Omit<Req, 'authorization'>;
  /**
   * It names or targets the unit's own objects: sent with another unit's key, a 2xx would be
   * that key acting on this unit's objects.
   */
  strict: boolean;
  /** A recovery it started works in the background until `cleanup`. */
  background?: boolean;
  cleanup?: () => Promise<void>;
}

interface Maker {
  /** Only an admin key may call it (a unit key: 403). */
  adminOnly?: boolean;
  /** The request for `unit` (an index), as its own key sends it, or as an admin key does. */
  make: (unit: number, asAdmin: boolean) => Promise<Made>;
}

describe(`property: every operation of the OpenAPI document, made hostile (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  const logLines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  let receiver: Awaited<ReturnType<typeof startCaptureServer>>;
  let svc: TestService;
  let base = '';
  let ops: Operation[] = [];
  const units: { name: string; id: string; key: string }[] = [];
  let defaultUnitId = '';
  let revokedKey = '';
  /** Which unit (index into `units`) each seeded or made object belongs to, by id or address. */
  const owner = new Map<string, number>();
  const seeded: Seed[] = [];
  /**
   * Messages (and SendGrid X-Message-Ids) the API accepted, with the request that did: each must
   * be sent afterwards, unless a later accepted request cancelled it.
   */
  const accepted = new Map<string, string>();
  const acceptedXMessageIds = new Map<string, string>();
  const cancelled = new Set<string>();
  let cancelRecoveryAccepted = false;
  let counter = 0;
  const fresh = () => `${++counter}-${randomBytes(3).toString('hex')}`;

  /** A request to the fuzzed service with the admin key (or `key`), answer checked. */
  async function call(method: string, path: string, body?: Json, key: string = TEST_KEY) {
    const [pathname, search] = path.split('?');
    const answer = await send(base, {
      method,
      path: pathname as string,
      params: {},
      query: [...new URLSearchParams(search ?? '')],
      ...(body === undefined ? {} : { body }),
      headers: {},
      authorization: `Bearer ${key}`,
    });
    assert.ok(
      answer.status >= 200 && answer.status < 300,
      `set-up: ${method} ${path}: ${answer.status} ${brief(answer.body)}`,
    );
    return answer;
  }

  before(async () => {
    receiver = await startCaptureServer((req, res) => {
      res.writeHead(req.url.includes('/fail') ? 503 : 200).end('ok');
    });
    const env = {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_PROVIDER: 'test',
    };
    // 1. Real data, made by a whole service (worker, status webhooks, alerts) in three units.
    const seeding = await startTestService(
      {
        ...env,
        TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
        TEGAMI_WEBHOOKS_RETRY_WINDOW_S: '1',
        TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
        TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
        TEGAMI_ALERT_FOR_S: '0',
        TEGAMI_ALERT_INTERVAL_MS: '200',
      },
      { logger },
    );
    base = seeding.url;
    try {
      await seed(seeding);
    } finally {
      await seeding.stop();
    }
    // 2. The service the requests go to: the API alone, so that nothing but the requests writes
    // (no worker, status webhook sender or cluster chores); mail waits for step 3.
    svc = await startTestService(
      { ...env, TEGAMI_TEST_NO_WORKER: '1' },
      { logger, housekeeping: false },
    );
    base = svc.url;
    const document = (await call('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, Schema>>;
    };
    ops = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => {
        const parameters = (operation.parameters ?? []) as {
          in: string;
          name: string;
          schema: Schema;
        }[];
        const content = (operation.requestBody as Schema | undefined)?.content as
          | Record<string, { schema: Schema }>
          | undefined;
        return {
          key: `${method.toUpperCase()} ${path}`,
          method: method.toUpperCase(),
          path,
          pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
          query: parameters
            .filter((p) => p.in === 'query')
            .map(({ name, schema }) => ({ name, schema })),
          body: content?.['application/json']?.schema ?? null,
          limited: '429' in ((operation.responses ?? {}) as Schema) || path.startsWith('/v3/'),
        };
      }),
    );
  });

  after(async () => {
    await svc?.stop();
    await receiver?.close();
    await db.cleanup();
  });

  async function seed(seeding: TestService): Promise<void> {
    const keys = new SqlApiKeyStore(seeding.service.database);
    for (const name of ['fuzz-a', 'fuzz-b', 'fuzz-c']) {
      units.push({ name, ...(await createUnitWithKey(seeding, name)) });
    }
    const listed = await call('GET', '/v1/units');
    defaultUnitId = (listed.body as { data: { id: string; name: string }[] }).data.find(
      (u) => u.name === 'default',
    )?.id as string;
    const revoked = await createApiKey(keys, 'revoked', Date.now(), {
      unitId: units[0]?.id as string,
    });
    await keys.revoke(revoked.record.id, Date.now());
    revokedKey = revoked.key;
    // Enough dead letters for every retry the runs may make.
    const failedPerUnit = 3 + Math.ceil(RUNS / 20);
    for (const [index, unit] of units.entries()) {
      owner.set(unit.id, index);
      const endpoint = async (kind: string) => {
        const r = await call(
          'POST',
          '/v1/webhook-endpoints',
          {
            url: `${receiver.url}/${kind}/${unit.name}`,
            events: [...WEBHOOK_EVENT_TYPES],
          },
          unit.key,
        );
        const id = (r.body as { id: string }).id;
        owner.set(id, index);
        return id;
      };
      const endpointOk = await endpoint('ok');
      const endpointFailing = await endpoint('fail');
      for (const i of [1, 2]) {
        const email = `blocked-${unit.name}-${i}@guests.example`;
        await call('POST', '/v1/suppressions', { email }, unit.key);
        owner.set(email, index);
      }
      const later = new Date(Date.now() + 30 * DAY_MS).toISOString();
      const batch = [
        ...Array.from({ length: 12 }, (_, i) =>
          message({ to: [{ email: `guest-${unit.name}-${i}@example.com` }], categories: ['seed'] }),
        ),
        ...Array.from({ length: failedPerUnit }, (_, i) =>
          message({
            to: [{ email: `permanent-${unit.name}-${i}@example.com` }],
            categories: ['seed'],
          }),
        ),
        message({ send_at: later, categories: ['seed'] }),
        message({ send_at: later, categories: ['seed-recover'] }),
        message({ send_at: later, categories: ['seed-cancel'] }),
      ];
      const submitted = await call('POST', '/v1/messages/batch', { messages: batch }, unit.key);
      const ids = (submitted.body as { results: { id: string }[] }).results.map((r) => r.id);
      for (const id of ids) owner.set(id, index);
      await call('POST', `/v1/messages/${ids[ids.length - 1]}/cancel`, undefined, unit.key);
      const sent = ids.slice(0, 12);
      const failed = ids.slice(12, 12 + failedPerUnit);
      await waitFor(async () => {
        const rows = await queryDatabase<{ n: number }>(
          db.url,
          `select count(*) as n from messages where status in ('sent', 'failed') and unit_id = ?`,
          [unit.id],
        );
        return Number(rows[0]?.n) === sent.length + failed.length;
      }, `${unit.name}'s mail sent or dead-lettered`);
      // Delivery events: a message with several, and a bounce, which suppresses its address.
      const withEvents = sent[0] as string;
      const events = ['processed', 'delivered', 'open', 'open', 'click'].map((event, i) => ({
        email: `guest-${unit.name}-0@example.com`,
        event,
        timestamp: Math.floor(Date.now() / 1000) - 100 + i,
        tegami_message_id: withEvents,
      }));
      await postUnsignedEvents(seeding.url, [
        ...events,
        {
          email: `guest-${unit.name}-1@example.com`,
          event: 'bounce',
          type: 'bounce',
          tegami_message_id: sent[1],
        },
      ]);
      owner.set(`guest-${unit.name}-1@example.com`, index);
      const started = await call(
        'POST',
        '/v1/recoveries',
        {
          action: 'cancel',
          filter: { category: 'seed-recover' },
          dry_run: false,
        },
        unit.key,
      );
      const recovery = (started.body as { id: string }).id;
      owner.set(recovery, index);
      await call(
        'PUT',
        '/v1/sendgrid/event-relay',
        { url: `${receiver.url}/relay/${unit.name}` },
        unit.key,
      );
      seeded[index] = {
        sent,
        failed,
        withEvents,
        endpointOk,
        endpointFailing,
        recovery,
        alert: '',
      };
    }
    for (const [index, unit] of units.entries()) {
      const s = seeded[index] as Seed;
      // Dead letters fire each unit's dead_letters alert; the failing endpoint's posts fail.
      s.alert = await waitFor(async () => {
        const r = await call('GET', `/v1/alerts?unit=${unit.name}`);
        return (r.body as { data: { id: string }[] }).data[0]?.id;
      }, `an alert of ${unit.name}`);
      owner.set(s.alert, index);
      await waitFor(async () => {
        const r = await call('GET', `/v1/webhook-endpoints/${s.endpointFailing}/deliveries`);
        return (r.body as { data: { status: string }[] }).data.some((d) => d.status === 'failed');
      }, `a failed status webhook of ${unit.name}`);
      await waitFor(async () => {
        const r = await call('GET', `/v1/recoveries/${s.recovery}`);
        return (r.body as { state: string }).state === 'done';
      }, `${unit.name}'s recovery done`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // A valid request of every operation

  const unitQuery = (i: number, asAdmin: boolean): [string, string][] =>
    asAdmin ? [['unit', (units[i] as { name: string }).name]] : [];
  const of = (i: number) => ({ unit: units[i] as (typeof units)[number], seed: seeded[i] as Seed });
  const plain = (
    method: string,
    path: string,
    parts: { params?: Record<string, string>; query?: [string, string][]; body?: Json } = {},
  ): Omit<Req, 'authorization'> => ({
    method,
    path,
    params: parts.params ?? {},
    query: parts.query ?? [],
    ...(parts.body === undefined ? {} : { body: parts.body }),
    headers: {},
  });
  const newMessage = () =>
    message({
      to: [{ email: `guest-${fresh()}@example.com` }],
      subject: `Fuzz ${counter}`,
    }) as Json;

  /** The valid request of each operation, by "METHOD /path" as the OpenAPI document names it. */
  const makers: Record<string, Maker> = {
    'GET /v1/alerts': {
      make: async (i, a) => ({
        req: plain('GET', '/v1/alerts', { query: [...unitQuery(i, a), ['limit', '20']] }),
        strict: false,
      }),
    },
    'GET /v1/alerts/{id}': {
      make: async (i) => ({
        req: plain('GET', '/v1/alerts/{id}', { params: { id: of(i).seed.alert } }),
        strict: true,
      }),
    },
    'GET /v1/audit-events': {
      make: async (i, a) => ({
        req: plain('GET', '/v1/audit-events', { query: [...unitQuery(i, a), ['limit', '20']] }),
        strict: false,
      }),
    },
    'GET /v1/messages': {
      make: async (i, a) => ({
        req: plain('GET', '/v1/messages', {
          query: [['status', 'sent'], ['limit', '10'], ...unitQuery(i, a)],
        }),
        strict: false,
      }),
    },
    'POST /v1/messages': {
      make: async () => {
        const req = plain('POST', '/v1/messages', { body: newMessage() });
        req.headers['idempotency-key'] = `fuzz-${fresh()}`;
        return { req, strict: false };
      },
    },
    'POST /v1/messages/batch': {
      make: async () => ({
        req: plain('POST', '/v1/messages/batch', {
          body: { messages: [newMessage(), newMessage()] },
        }),
        strict: false,
      }),
    },
    'GET /v1/messages/{id}': {
      make: async (i) => ({
        req: plain('GET', '/v1/messages/{id}', { params: { id: of(i).seed.sent[2] as string } }),
        strict: true,
      }),
    },
    'POST /v1/messages/{id}/cancel': {
      make: async (i) => {
        const later = new Date(Date.now() + 30 * DAY_MS).toISOString();
        const r = await call('POST', '/v1/messages', message({ send_at: later }), of(i).unit.key);
        const id = (r.body as { id: string }).id;
        owner.set(id, i);
        return { req: plain('POST', '/v1/messages/{id}/cancel', { params: { id } }), strict: true };
      },
    },
    'GET /v1/messages/{id}/events': {
      make: async (i) => ({
        req: plain('GET', '/v1/messages/{id}/events', {
          params: { id: of(i).seed.withEvents },
          query: [['limit', '2']],
        }),
        strict: true,
      }),
    },
    'POST /v1/messages/{id}/retry': {
      // Each dead letter once; when none is left, the request is a 409 (the runs only).
      make: async (i) => ({
        req: plain('POST', '/v1/messages/{id}/retry', {
          params: { id: of(i).seed.failed.pop() ?? (of(i).seed.sent[3] as string) },
        }),
        strict: true,
      }),
    },
    'GET /v1/providers': {
      make: async () => ({ req: plain('GET', '/v1/providers'), strict: false }),
    },
    'POST /v1/providers/{name}/probe': {
      adminOnly: true,
      make: async () => ({
        req: plain('POST', '/v1/providers/{name}/probe', { params: { name: 'test' } }),
        strict: false,
      }),
    },
    'GET /v1/recoveries': {
      make: async () => ({
        req: plain('GET', '/v1/recoveries', { query: [['limit', '10']] }),
        strict: false,
      }),
    },
    'POST /v1/recoveries': {
      make: async (i, a) => ({
        req: plain('POST', '/v1/recoveries', {
          body: {
            action: 'retry',
            filter: { status: 'failed', ...(a ? { unit: of(i).unit.name } : {}) },
          },
        }),
        strict: false,
      }),
    },
    'GET /v1/recoveries/{id}': {
      make: async (i) => ({
        req: plain('GET', '/v1/recoveries/{id}', { params: { id: of(i).seed.recovery } }),
        strict: true,
      }),
    },
    'POST /v1/recoveries/{id}/cancel': {
      // A recovery that runs a while: one message a second, over sent mail (nothing to retry).
      make: async (i, a) => {
        const r = await call(
          'POST',
          '/v1/recoveries',
          {
            action: 'retry',
            filter: { status: 'sent', ...(a ? { unit: of(i).unit.name } : {}) },
            dry_run: false,
            rate_per_s: 1,
          },
          a ? TEST_KEY : of(i).unit.key,
        );
        const id = (r.body as { id: string }).id;
        owner.set(id, i);
        return {
          req: plain('POST', '/v1/recoveries/{id}/cancel', { params: { id } }),
          strict: true,
          background: true,
          cleanup: () => stopRecovery(id),
        };
      },
    },
    'GET /v1/sandbox/messages': {
      make: async (i) => ({
        req: plain('GET', '/v1/sandbox/messages', {
          query: [
            ['limit', '5'],
            ['message_id', of(i).seed.sent[0] as string],
          ],
        }),
        strict: false,
      }),
    },
    'GET /v1/sendgrid/event-relay': {
      make: async (i, a) => {
        await ensureRelay(i);
        return {
          req: plain('GET', '/v1/sendgrid/event-relay', { query: unitQuery(i, a) }),
          strict: true,
        };
      },
    },
    'PUT /v1/sendgrid/event-relay': {
      make: async (i, a) => ({
        req: plain('PUT', '/v1/sendgrid/event-relay', {
          body: {
            url: `${receiver.url}/relay/${of(i).unit.name}`,
            ...(a ? { unit: of(i).unit.name } : {}),
          },
        }),
        strict: true,
      }),
    },
    'DELETE /v1/sendgrid/event-relay': {
      make: async (i, a) => {
        await ensureRelay(i);
        return {
          req: plain('DELETE', '/v1/sendgrid/event-relay', { query: unitQuery(i, a) }),
          strict: true,
        };
      },
    },
    'GET /v1/suppressions': {
      make: async (i, a) => ({
        req: plain('GET', '/v1/suppressions', { query: [['limit', '10'], ...unitQuery(i, a)] }),
        strict: true,
      }),
    },
    'POST /v1/suppressions': {
      make: async () => ({
        req: plain('POST', '/v1/suppressions', {
          body: { email: `held-${fresh()}@guests.example` },
        }),
        strict: false,
      }),
    },
    'DELETE /v1/suppressions/{email}': {
      make: async (i, a) => {
        const email = `held-${fresh()}@guests.example`;
        await call('POST', '/v1/suppressions', { email }, of(i).unit.key);
        owner.set(email, i);
        return {
          req: plain('DELETE', '/v1/suppressions/{email}', {
            params: { email },
            query: unitQuery(i, a),
          }),
          strict: true,
        };
      },
    },
    'GET /v1/units': {
      adminOnly: true,
      make: async () => ({ req: plain('GET', '/v1/units'), strict: false }),
    },
    'POST /v1/units': {
      adminOnly: true,
      make: async () => ({
        req: plain('POST', '/v1/units', { body: { name: `fz-${fresh()}` } }),
        strict: false,
      }),
    },
    'GET /v1/units/{id}': {
      make: async (i) => ({
        req: plain('GET', '/v1/units/{id}', { params: { id: of(i).unit.id } }),
        strict: true,
      }),
    },
    'PUT /v1/units/{id}': {
      adminOnly: true,
      make: async (i) => ({
        req: plain('PUT', '/v1/units/{id}', {
          params: { id: of(i).unit.id },
          body: { default_priority: 'normal', alerts: { muted: false } },
        }),
        strict: true,
      }),
    },
    'GET /v1/unsent': {
      make: async (i, a) => ({
        req: plain('GET', '/v1/unsent', { query: [['limit', '10'], ...unitQuery(i, a)] }),
        strict: false,
      }),
    },
    'GET /v1/unsent/summary': {
      make: async (i, a) => ({
        req: plain('GET', '/v1/unsent/summary', { query: unitQuery(i, a) }),
        strict: false,
      }),
    },
    'GET /v1/webhook-endpoints': {
      make: async () => ({ req: plain('GET', '/v1/webhook-endpoints'), strict: false }),
    },
    'POST /v1/webhook-endpoints': {
      make: async (i, a) => ({
        req: plain('POST', '/v1/webhook-endpoints', {
          body: {
            url: `${receiver.url}/ok/${fresh()}`,
            events: ['message.sent'],
            ...(a ? { unit: of(i).unit.name } : {}),
          },
        }),
        strict: a,
      }),
    },
    'DELETE /v1/webhook-endpoints/{id}': {
      make: async (i) => {
        const r = await call('POST', '/v1/webhook-endpoints', {
          url: `${receiver.url}/ok/${fresh()}`,
          events: ['message.failed'],
          unit: of(i).unit.name,
        });
        const id = (r.body as { id: string }).id;
        owner.set(id, i);
        return {
          req: plain('DELETE', '/v1/webhook-endpoints/{id}', { params: { id } }),
          strict: true,
        };
      },
    },
    'GET /v1/webhook-endpoints/{id}': {
      make: async (i) => ({
        req: plain('GET', '/v1/webhook-endpoints/{id}', { params: { id: of(i).seed.endpointOk } }),
        strict: true,
      }),
    },
    'GET /v1/webhook-endpoints/{id}/deliveries': {
      make: async (i) => ({
        req: plain('GET', '/v1/webhook-endpoints/{id}/deliveries', {
          params: { id: of(i).seed.endpointFailing },
          query: [['limit', '10']],
        }),
        strict: true,
      }),
    },
    'POST /v1/webhook-endpoints/{id}/redeliver': {
      make: async (i) => ({
        req: plain('POST', '/v1/webhook-endpoints/{id}/redeliver', {
          params: { id: of(i).seed.endpointFailing },
          body: { since: new Date(Date.now() - DAY_MS).toISOString() },
        }),
        strict: true,
      }),
    },
    'POST /v1/webhook-endpoints/{id}/rotate-secret': {
      make: async (i) => ({
        req: plain('POST', '/v1/webhook-endpoints/{id}/rotate-secret', {
          params: { id: of(i).seed.endpointOk },
          body: { keep_previous_for_seconds: 60 },
        }),
        strict: true,
      }),
    },
    'POST /v3/mail/send': {
      make: async () => ({
        req: plain('POST', '/v3/mail/send', {
          body: {
            personalizations: [{ to: [{ email: `guest-${fresh()}@example.com` }] }],
            from: { email: 'bookings@hotel.example', name: 'Hotel' },
            subject: 'Your booking',
            content: [{ type: 'text/plain', value: 'See you soon.' }],
          },
        }),
        strict: false,
      }),
    },
  };

  async function ensureRelay(i: number): Promise<void> {
    const { unit } = of(i);
    await call('PUT', '/v1/sendgrid/event-relay', {
      url: `${receiver.url}/relay/${unit.name}`,
      unit: unit.name,
    });
  }

  /** Cancels a recovery a run started (it must not finish in the background later). */
  async function stopRecovery(id: string): Promise<void> {
    const r = await send(base, {
      method: 'POST',
      path: `/v1/recoveries/${id}/cancel`,
      params: {},
      query: [],
      headers: {},
      authorization: `Bearer ${TEST_KEY}`,
    });
    assert.ok(
      r.status === 200 || r.status === 409,
      `cancelling ${id}: ${r.status} ${brief(r.body)}`,
    );
  }

  /** Every unit's settings as they were, after a run that changed some. */
  async function restoreUnits(): Promise<void> {
    for (const id of [defaultUnitId, ...units.map((u) => u.id)]) {
      await call('PUT', `/v1/units/${id}`, {
        slack_webhook_url: null,
        rate_limit_per_min: null,
        default_priority: null,
        alerts: null,
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // One run

  const ADMIN_ONLY = () =>
    ops
      .filter((op) => makers[op.key]?.adminOnly)
      .map((op) => ({
        method: op.method,
        pattern: new RegExp(`^${op.path.replace(/\{\w+\}/g, '[^/]+')}$`),
      }));

  /** The API key a request carries, read as the server reads it; null: none that works. */
  function keyOf(req: Req): string | null {
    const match = /^Bearer +(\S+)\s*$/i.exec(req.authorization ?? '');
    const token = match?.[1];
    if (!token) return null;
    const known = [TEST_KEY, ...units.map((u) => u.key)];
    if (known.includes(token)) return token;
    // `SG.<key>` is taken on /v3 and /v1 alike (src/http/auth.ts, findKeyAsGiven).
    if (token.startsWith('SG.') && known.includes(token.slice(3))) return token.slice(3);
    return null;
  }

  /** The resource an operation acts on: `/v1/messages`, `/v1/sendgrid`, `/v3/mail`, ... */
  const resourceOf = (path: string) => path.split('/').slice(0, 3).join('/');

  async function run(plan: Plan, phase: string): Promise<Answer[]> {
    const op = ops[plan.op] as Operation;
    const maker = makers[op.key] as Maker;
    const keyUnit = plan.who === 'unit' || plan.who === 'cross' ? plan.unit : null;
    const forUnit =
      plan.who === 'cross'
        ? ([0, 1, 2].filter((u) => u !== plan.unit)[plan.other] as number)
        : plan.unit;
    const made = await maker.make(forUnit, plan.who !== 'unit');
    const key =
      plan.who === 'admin'
        ? TEST_KEY
        : plan.who === 'none'
          ? null
          : (units[plan.unit]?.key as string);
    const req: Req = { ...structuredClone(made.req), authorization: key ? `Bearer ${key}` : null };
    const parts = new Set(plan.parts);
    if (plan.field?.in === 'body')
      req.body = setField(req.body ?? {}, plan.field.path, plan.field.value);
    if (plan.field?.in === 'query') {
      const [name] = plan.field.path as [string];
      const values = Array.isArray(plan.field.value) ? plan.field.value : [plan.field.value];
      req.query = req.query.filter(([n]) => n !== name);
      for (const v of values) req.query.push([name, typeof v === 'string' ? v : JSON.stringify(v)]);
    }
    /** A path parameter now names another unit's object. */
    let otherUnitsObject = false;
    if (parts.has('auth')) {
      const change = plan.auth;
      if (change.kind === 'missing') req.authorization = null;
      else if (change.kind === 'revoked') req.authorization = `Bearer ${revokedKey}`;
      else if (change.kind === 'template')
        req.authorization = change.template.replace('<key>', key ?? 'tgm_none');
      else req.authorization = change.value;
    }
    if (parts.has('path')) {
      const change = plan.path;
      if (op.pathParams.length === 0) req.suffix = change.suffix;
      else {
        const name = op.pathParams[change.pick % op.pathParams.length] as string;
        const value = change.value as Value;
        const special =
          value && typeof value === 'object' && 'special' in value
            ? (value as { special: Special }).special
            : null;
        if (special?.tag === 'raw' && special.text.startsWith('@other:')) {
          // Another object the set-up made: of another unit for a unit key.
          const others = [...owner].filter(([, u]) => keyUnit === null || u !== keyUnit);
          const [id, u] = others[Number(special.text.slice(7)) % others.length] as [string, number];
          req.params[name] = id;
          otherUnitsObject = keyUnit !== null && u !== keyUnit;
        } else if (special?.tag === 'raw') {
          req.params[name] = special.text;
          req.rawParams = true;
        } else req.params[name] = specialText(value);
      }
    }
    if (parts.has('query')) for (const change of plan.query) applyQuery(req, op, change);
    if (parts.has('body')) for (const change of plan.body) applyBody(req, op, change);
    let tolerateNoAnswer = false;
    if (parts.has('headers')) {
      const h = plan.headers;
      if (h.contentType !== undefined) req.headers['content-type'] = h.contentType;
      if (h.encoding !== undefined) {
        req.headers['content-encoding'] = h.encoding.startsWith('gzip-') ? 'gzip' : h.encoding;
        if (['gzip', 'x-gzip', 'GZIP'].includes(h.encoding)) req.gzip = 'valid';
        if (h.encoding === 'gzip-bomb') req.gzip = 'bomb';
      }
      if (h.idempotencyKey !== undefined) req.headers['idempotency-key'] = h.idempotencyKey;
      if (h.large) req.headers['x-padding'] = 'p'.repeat(h.large);
      if (h.accept !== undefined) req.headers.accept = h.accept;
      if (h.extra !== undefined) req.headers[`x-${h.extra[0]}`] = h.extra[1];
    }
    if (parts.has('method')) req.method = plan.method;
    const requestKey = keyOf(req);
    const requestUnit =
      requestKey === null || requestKey === TEST_KEY
        ? null
        : units.findIndex((u) => u.key === requestKey);
    // Over Node's 16 KiB of request line and headers, or past a body limit, the server may close
    // the connection while the client still writes: no answer to read is then no failure.
    const size = urlOf('', req).length + JSON.stringify(req.headers).length;
    const bodySize = (req.text ?? JSON.stringify(req.body ?? '')).length;
    tolerateNoAnswer = size > 15_000 || bodySize > 9 * 1024 * 1024 || req.gzip === 'bomb';
    let limited: string | null = null;
    const cleanups: (() => Promise<void>)[] = made.cleanup ? [made.cleanup] : [];
    let restore = false;
    const siblings: Req[] = [];
    let background = made.background === true;
    try {
      if (parts.has('copies')) {
        // Other operations on the same resource at the same moment, on the same object where
        // their paths name one (a PUT and a DELETE of one relay, a cancel and a retry, ...).
        const family = ops.filter((o) => resourceOf(o.path) === resourceOf(op.path));
        for (const n of plan.siblings) {
          const other = family[n % family.length] as Operation;
          const sibling = await (makers[other.key] as Maker).make(forUnit, plan.who !== 'unit');
          if (sibling.cleanup) cleanups.push(sibling.cleanup);
          if (sibling.background) background = true;
          const params = { ...sibling.req.params };
          for (const name of other.pathParams) {
            const same = made.req.params[name];
            if (same !== undefined) params[name] = same;
          }
          siblings.push({
            ...structuredClone(sibling.req),
            params,
            authorization: key ? `Bearer ${key}` : null,
          });
        }
      }
      if (parts.has('limit') && requestKey !== null) {
        // The unit's sending limit, used up: 1 a minute, and one message sent now.
        limited = requestUnit === null ? defaultUnitId : (units[requestUnit]?.id as string);
        restore = true;
        await call('PUT', `/v1/units/${limited}`, { rate_limit_per_min: 1 });
        const first = await send(base, {
          ...plain('POST', '/v1/messages', { body: newMessage() }),
          authorization: `Bearer ${requestKey}`,
        });
        assert.ok([202, 429].includes(first.status), `using up the limit: ${first.status}`);
        if (first.status === 202) accepted.set((first.body as { id: string }).id, 'the limit');
      }
      const copies = parts.has('copies') ? plan.copies : 1;
      const before = await rowCounts(db.url);
      const [answers, siblingAnswers] = await Promise.all([
        Promise.all(Array.from({ length: copies }, () => send(base, req))),
        Promise.all(siblings.map((sibling) => send(base, sibling))),
      ]);
      const what = `${phase} ${op.key} as ${plan.who}${keyUnit === null ? '' : ` ${units[keyUnit]?.name}`} [${[...parts].join(',')}]${copies > 1 ? ` x${copies}` : ''}: ${describeReq(req)}`;
      for (const answer of answers) {
        const heard = `${what}\n  → ${answer.status} ${brief(answer.body, 500)}`;
        if (answer.error) {
          assert.ok(tolerateNoAnswer, `${what}\n  → no answer: ${answer.error}`);
          continue;
        }
        assert.ok(answer.status < 500, heard);
        if (answer.status >= 400) checkErrorShape(answer, heard);
        if (answer.status >= 300) continue;
        track(req, answer, cleanups);
        if (req.method === 'PUT' && answer.pathname.startsWith('/v1/units/')) restore = true;
        assert.ok(requestKey !== null, `${heard}\n  a request without a working key got a 2xx`);
        if (requestUnit === null) continue;
        assert.ok(
          !ADMIN_ONLY().some((r) => r.method === req.method && r.pattern.test(answer.pathname)),
          `${heard}\n  a unit key got a 2xx from an admin-only operation`,
        );
        assert.ok(!otherUnitsObject, `${heard}\n  a unit key got a 2xx on another unit's object`);
        const unchanged = [...parts].every((p) =>
          ['auth', 'headers', 'limit', 'copies'].includes(p),
        );
        assert.ok(
          !(plan.who === 'cross' && made.strict && unchanged),
          `${heard}\n  a unit key got a 2xx on another unit's objects`,
        );
        const leaked = leaks(answer.body, requestUnit);
        assert.deepEqual(leaked, [], `${heard}\n  a unit key was shown another unit's objects`);
      }
      for (const [index, answer] of siblingAnswers.entries()) {
        const sibling = siblings[index] as Req;
        const heard = `${what}\n  at the same time: ${describeReq(sibling)}\n  → ${answer.status} ${brief(answer.body, 500)}`;
        assert.ok(!answer.error, `${heard}: no answer: ${answer.error}`);
        assert.ok(answer.status < 500, heard);
        if (answer.status >= 400) checkErrorShape(answer, heard);
        if (answer.status >= 300) continue;
        track(sibling, answer, cleanups);
        if (sibling.method === 'PUT' && answer.pathname.startsWith('/v1/units/')) restore = true;
        assert.ok(key !== null, `${heard}\n  a request without a key got a 2xx`);
        if (keyUnit !== null) {
          assert.deepEqual(leaks(answer.body, keyUnit), [], `${heard}\n  another unit's objects`);
        }
      }
      if ([...answers, ...siblingAnswers].every((a) => a.status >= 400 || a.error)) {
        const after = await rowCounts(db.url);
        // Tables a refused request may change, and why:
        const excused = new Set<string>();
        // A recovery the run started for its request (a cancel needs one running) works
        // through its set in the background, one message a second, deleting each chunk's rows
        // (store/recoveries/run-chunk.ts) until the run's clean-up cancels it.
        if (background) excused.add('recovery_items');
        // With a sending limit, PostgreSQL counts the unit's mail in one shared row per minute
        // (store/units/rate-windows.ts): a refused /v3/mail/send reads its X-RateLimit-* headers
        // through that upsert and an over-limit request reserves nothing, but either creates the
        // minute's row (at 0) if none is there yet, and the first count of a minute deletes the
        // windows before it. Counters, not data.

        if (limited !== null && TEST_ENGINE === 'postgres') excused.add('unit_rate_windows');
        const changed = Object.keys(before).filter(
          (table) => before[table] !== after[table] && !excused.has(table),
        );
        assert.deepEqual(
          changed.map((t) => `${t}: ${before[t]} → ${after[t]}`),
          [],
          `${what}\n  → ${answers.map((a) => a.status).join(', ')}: refused, yet rows changed`,
        );
      }
      return answers;
    } finally {
      for (const cleanup of cleanups) await cleanup();
      if (restore) await restoreUnits();
    }
  }

  /** What an accepted answer made: messages to send, a recovery to stop. */
  function track(req: Req, answer: Answer, cleanups: (() => Promise<void>)[]): void {
    const path = answer.pathname;
    const body = answer.body as Record<string, unknown> | null;
    if (req.method !== 'POST') return;
    const what = describeReq(req).slice(0, 200);
    if (path === '/v1/messages' || /^\/v1\/messages\/[^/]+\/retry$/.test(path)) {
      accepted.set(body?.id as string, what);
    } else if (/^\/v1\/messages\/[^/]+\/cancel$/.test(path)) {
      cancelled.add(body?.id as string);
    } else if (path === '/v1/messages/batch') {
      for (const r of (body?.results ?? []) as { id?: string }[])
        if (r.id) accepted.set(r.id, what);
    } else if (path === '/v3/mail/send' && answer.status === 202) {
      acceptedXMessageIds.set(answer.headers.get('x-message-id') as string, what);
    } else if (path === '/v1/recoveries' && answer.status === 202) {
      if (body?.action === 'cancel') cancelRecoveryAccepted = true;
      cleanups.push(() => stopRecovery(body?.id as string));
    }
  }

  /** Ids (and addresses) of other units' objects in an answer to `unit`'s key. */
  function leaks(body: unknown, unit: number): string[] {
    const text = JSON.stringify(body) ?? '';
    const found = new Set<string>();
    for (const [id] of text.matchAll(/\b(?:msg|whk|rec|alt|unit)_[0-9A-Z]{26}\b/g)) {
      const u = owner.get(id);
      if (u !== undefined && u !== unit) found.add(id);
    }
    for (const [id, u] of owner)
      if (u !== unit && id.includes('@') && text.includes(id)) found.add(id);
    return [...found];
  }

  const plainPlan = (op: number, who: Who, unit = 0): Plan => ({
    op,
    who,
    unit,
    other: 0,
    parts: [],
    auth: { kind: 'missing' },
    path: { pick: 0, value: '', suffix: '' },
    query: [],
    body: [],
    headers: {},
    method: 'GET',
    copies: 1,
    siblings: [],
  });

  // -------------------------------------------------------------------------------------------

  test('every operation of the document has a valid request, accepted with each key as it may be', async () => {
    const missing = ops.filter((op) => !makers[op.key]).map((op) => op.key);
    assert.deepEqual(
      missing,
      [],
      'operations of the document without a valid request here (add one to makers)',
    );
    const gone = Object.keys(makers).filter((key) => !ops.some((op) => op.key === key));
    assert.deepEqual(gone, [], 'valid requests for operations the document no longer has');
    for (const [index, op] of ops.entries()) {
      const adminOnly = makers[op.key]?.adminOnly === true;
      for (const [who, unit] of [
        ['admin', 0],
        ['unit', 0],
        ['unit', 2],
        ['none', 1],
        ['cross', 1],
      ] as const) {
        const answers = await run(plainPlan(index, who, unit), 'plain');
        const [answer] = answers as [Answer];
        const seen = `${op.key} as ${who}: ${answer.status} ${brief(answer.body)}`;
        if (who === 'admin' || (who === 'unit' && !adminOnly)) {
          assert.ok(
            answer.status >= 200 && answer.status < 300,
            `the valid request is accepted: ${seen}`,
          );
        } else if (who === 'unit') {
          assert.equal(answer.status, 403, `admin keys only: ${seen}`);
        } else if (who === 'none') {
          assert.equal(answer.status, 401, `no key: ${seen}`);
        }
        // cross: run() checked that a request naming another unit's objects is never a 2xx.
      }
    }
  });

  test('each documented field and query parameter, at the edge of its schema: a refusal changes nothing', async () => {
    for (const [index, op] of ops.entries()) {
      // With a unit key where one may call it: the unit's own request.
      const who: Who = makers[op.key]?.adminOnly ? 'admin' : 'unit';
      const fields: FieldChange[] = [
        ...(op.body ? schemaProperties(op.body) : []).flatMap(([path, schema]) =>
          oddValues(schema).map((value) => ({ in: 'body' as const, path, value })),
        ),
        ...op.query.map(({ name, schema }) => ({
          in: 'query' as const,
          path: [name],
          value: oddValues(schema)[0] as Json,
        })),
      ];
      for (const field of fields) await run({ ...plainPlan(index, who, 1), field }, 'field');
    }
  });

  test('hostile requests: no 5xx, documented errors, a refusal changes nothing, units stay apart', async () => {
    await fc.assert(
      fc.asyncProperty(planArb(ops), async (plan) => {
        await run(plan, 'run');
      }),
      { numRuns: RUNS },
    );
  });

  test('afterwards every accepted message is sent and rendered, and no error was logged', async () => {
    for (const [xMessageId, what] of acceptedXMessageIds) {
      const r = await call('GET', `/v1/messages?provider_message_id=${xMessageId}&limit=500`);
      const ids = (r.body as { data: { id: string }[] }).data.map((m) => m.id);
      assert.ok(ids.length > 0, `the messages of X-Message-Id ${xMessageId}`);
      for (const id of ids) accepted.set(id, what);
    }
    await svc.stop();
    // 3. The same database with a worker and the sandbox provider: everything goes out.
    svc = await startTestService(
      { TEGAMI_DATABASE_URL: db.url, TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true' },
      { logger },
    );
    base = svc.url;
    const ids = [...accepted.keys()];
    assert.ok(ids.length > 0, 'no message was accepted');
    type Row = { id: string; status: string; send_at: number | null };
    const statuses = async () => {
      const found = new Map<string, Row>();
      for (let i = 0; i < ids.length; i += 200) {
        const chunk = ids.slice(i, i + 200);
        const rows = await queryDatabase<Row>(
          db.url,
          `select id, status, send_at from messages where id in (${chunk.map(() => '?').join(', ')})`,
          chunk,
        );
        for (const row of rows) found.set(row.id, row);
      }
      return found;
    };
    // Settled: nothing left to send now (scheduled ones wait for their time).
    const settled = (row: Row | undefined) =>
      row !== undefined &&
      row.status !== 'queued' &&
      row.status !== 'sending' &&
      !(row.status === 'scheduled' && Number(row.send_at) <= Date.now());
    const rows = await waitFor(
      async () => {
        const found = await statuses();
        return ids.every((id) => settled(found.get(id))) ? found : null;
      },
      `${ids.length} accepted messages sent`,
      60_000,
      200,
    );
    const unsent: string[] = [];
    for (const id of ids) {
      const status = rows.get(id)?.status;
      const cancelledLater =
        status === 'cancelled' && (cancelled.has(id) || cancelRecoveryAccepted);
      if (status === 'sent' || status === 'scheduled' || cancelledLater) continue;
      const shown = await call('GET', `/v1/messages/${id}`);
      const attempts = (shown.body as { attempts?: { detail: string | null }[] }).attempts ?? [];
      unsent.push(
        `${id} ${status}: ${attempts.at(-1)?.detail ?? 'no attempt'}; accepted by ${accepted.get(id)}`,
      );
    }
    assert.deepEqual(unsent, [], 'accepted messages that were not sent');
    for (const id of ids) {
      if (rows.get(id)?.status !== 'sent') continue;
      const r = await call('GET', `/v1/sandbox/messages?message_id=${id}&limit=10`);
      const data = (r.body as { data: { mime: string | null }[] }).data;
      assert.ok(data.length > 0, `${id} is in the sandbox outbox`);
      for (const entry of data) {
        assert.ok(
          typeof entry.mime === 'string' && entry.mime.length > 0,
          `${id} renders: ${brief(entry)}`,
        );
      }
    }
    const errors = logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    assert.deepEqual(errors, [], 'the service logged errors');
  });
});
