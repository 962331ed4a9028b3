import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { message, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';

/**
 * The API's OpenAPI document, as served at `/openapi.json` by a default configuration, is
 * committed as docs/openapi.json, so a change to the API shows in review as a change to that
 * file. Only the documents are compared (object keys in any order), never how the routes are
 * spread over source files. After an intended change:
 *
 *   TEGAMI_UPDATE_OPENAPI=1 node scripts/run-tests.js openapi
 *
 * rewrites the file: keys sorted, formatted as `npm run format` would.
 */

const SNAPSHOT = new URL('../docs/openapi.json', import.meta.url);
const UPDATE = 'TEGAMI_UPDATE_OPENAPI=1 node scripts/run-tests.js openapi';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The same document with every object's keys in sorted order. */
function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key] as Json)]),
    );
  }
  return value;
}

/** Where two documents differ, as JSON Pointer paths (`/paths/~1v1~1messages/post`). */
function differences(expected: Json, actual: Json, path = ''): string[] {
  if (typeof expected !== typeof actual || Array.isArray(expected) !== Array.isArray(actual)) {
    return [`${path || '/'}: changed`];
  }
  if (expected !== null && actual !== null && typeof expected === 'object') {
    const a = expected as Record<string, Json>;
    const b = actual as Record<string, Json>;
    const out: string[] = [];
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const at = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (!(key in b)) out.push(`${at}: removed`);
      else if (!(key in a)) out.push(`${at}: added`);
      else out.push(...differences(a[key] as Json, b[key] as Json, at));
    }
    return out;
  }
  return expected === actual ? [] : [`${path || '/'}: ${brief(expected)} → ${brief(actual)}`];
}

function brief(value: Json): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function writeSnapshot(document: Json): void {
  writeFileSync(SNAPSHOT, `${JSON.stringify(sortKeys(document), null, 2)}\n`);
  // Biome (npm run lint) has its own JSON layout; let it lay the file out.
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  const formatted = spawnSync(process.execPath, [biome, 'format', '--write', SNAPSHOT.pathname], {
    encoding: 'utf8',
  });
  if (formatted.status !== 0) {
    console.log(
      `docs/openapi.json written, but not formatted: run npm run format\n${formatted.stderr}`,
    );
  }
}

describe(`docs/openapi.json is the served OpenAPI document (${TEST_ENGINE})`, () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(() => svc?.stop());

  test('GET /openapi.json serves the committed document', async () => {
    const served = await svc.request('GET', '/openapi.json', undefined, { authorization: '' });
    assert.equal(served.status, 200);
    const document = served.body as Json;
    if (process.env.TEGAMI_UPDATE_OPENAPI === '1') {
      writeSnapshot(document);
      console.log('docs/openapi.json rewritten from the served document');
    }
    let committed: Json;
    try {
      committed = JSON.parse(readFileSync(SNAPSHOT, 'utf8'));
    } catch (error) {
      assert.fail(`docs/openapi.json cannot be read (${error}); write it with:\n  ${UPDATE}`);
    }
    const found = differences(committed, document);
    if (found.length > 0) {
      const listed = found.slice(0, 20).map((d) => `  ${d}`);
      if (found.length > listed.length) listed.push(`  … and ${found.length - listed.length} more`);
      assert.fail(
        `the served OpenAPI document differs from docs/openapi.json in ${found.length} place(s) ` +
          `(committed → served):\n${listed.join('\n')}\n` +
          `If the API change is intended, rewrite the file and commit it:\n  ${UPDATE}`,
      );
    }
  });

  test('the document is the same when served again (no ports, times or counters in it)', async () => {
    const first = await svc.request('GET', '/openapi.json');
    const second = await svc.request('GET', '/openapi.json');
    assert.deepEqual(second.body, first.body);
    const text = JSON.stringify(first.body);
    const port = new URL(svc.url).port;
    for (const [what, pattern] of [
      ['an address of this run', new RegExp(`127\\.0\\.0\\.1|localhost|:${port}\\b`)],
      ['a time of this run', /\b1[6-9]\d{11}\b|\b20\d\d-\d\d-\d\dT\d/],
    ] as const) {
      const found = pattern.exec(text);
      assert.equal(
        found,
        null,
        `the document holds ${what}: …${text.slice((found?.index ?? 0) - 60, (found?.index ?? 0) + 60)}…`,
      );
    }
  });
});

/**
 * What a client generated from the document expects: every status a route answers is listed for
 * it, and the Idempotency-Key header of a submission is a parameter. Each request here is real
 * HTTP against the served API, and its status is looked up in the document the same API serves.
 */
describe(`the OpenAPI document lists the statuses the API answers (${TEST_ENGINE})`, () => {
  let svc: TestService;
  let document: {
    paths: Record<
      string,
      Record<
        string,
        { responses?: Record<string, unknown>; parameters?: { in: string; name: string }[] }
      >
    >;
  };
  before(async () => {
    svc = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    document = (await svc.request('GET', '/openapi.json')).body;
  });
  after(() => svc?.stop());

  /** The document's operation for a request: its path template matched segment by segment. */
  function operation(method: string, path: string) {
    const parts = path.split('?')[0]?.split('/') ?? [];
    const template = Object.keys(document.paths).find((candidate) => {
      const pattern = candidate.split('/');
      return (
        pattern.length === parts.length &&
        pattern.every((p, i) => p === parts[i] || /^\{.+\}$/.test(p))
      );
    });
    assert.ok(template, `no path of the document matches ${path}`);
    const op = document.paths[template]?.[method.toLowerCase()];
    assert.ok(op, `the document has no ${method} ${template}`);
    return { template, op };
  }

  async function answers(
    method: string,
    path: string,
    status: number,
    body?: unknown,
    headers?: Record<string, string>,
  ) {
    const answer = await svc.request(method, path, body, headers);
    assert.equal(answer.status, status, `${method} ${path}: ${JSON.stringify(answer.body)}`);
    const { template, op } = operation(method, path);
    assert.ok(
      Object.hasOwn(op.responses ?? {}, String(status)),
      `${method} ${template} answered ${status}, which the document does not list (it lists ${Object.keys(op.responses ?? {}).join(', ')})`,
    );
    return answer;
  }

  test('every operation lists the answer it gives when it succeeds', async () => {
    // Listing error answers on a route that declared none took the place of the success answer
    // the document gave such a route by default: a generated client knew no success for it.
    const without = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, op]) => !Object.keys(op.responses ?? {}).some((s) => /^2\d\d$/.test(s)))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual(without, []);
    const listed = await answers('GET', '/v1/sandbox/messages', 200);
    assert.ok(Array.isArray(listed.body.data), JSON.stringify(listed.body));
  });

  test('DELETE routes answer 204, as listed', async () => {
    await answers('POST', '/v1/suppressions', 201, { email: 'guest@example.com' });
    await answers('DELETE', '/v1/suppressions/guest@example.com', 204);
    await answers('DELETE', '/v1/suppressions/guest@example.com', 404);
    const endpoint = await answers('POST', '/v1/webhook-endpoints', 201, {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.sent'],
    });
    await answers('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`, 204);
    await answers('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`, 404);
    await answers('PUT', '/v1/sendgrid/event-relay', 201, { url: 'http://127.0.0.1:9/events' });
    await answers('PUT', '/v1/sendgrid/event-relay', 200, { url: 'http://127.0.0.1:9/moved' });
    await answers('DELETE', '/v1/sendgrid/event-relay', 204);
    await answers('DELETE', '/v1/sendgrid/event-relay', 404);
  });

  test('the errors every /v1 route may give are listed on routes that declared none', async () => {
    await answers('GET', '/v1/providers?stauts=x', 400);
    await answers('GET', '/v1/suppressions?limit=0', 400);
    await answers('POST', '/v1/webhook-endpoints', 400, {
      url: 'ftp://x',
      events: ['message.sent'],
    });
    await answers('GET', '/v1/webhook-endpoints/whk_unknown/deliveries', 404);
    await answers('POST', '/v1/webhook-endpoints/whk_unknown/rotate-secret', 404);
    await answers('GET', '/v1/webhook-endpoints', 401, undefined, { authorization: 'Bearer nope' });
    await answers('POST', '/v1/messages', 415, JSON.stringify(message()), {
      'content-type': 'text/plain',
    });
    await answers('POST', '/v1/suppressions', 415, 'guest@example.com', {
      'content-type': 'text/plain',
    });
  });

  test('POST /v3/mail/send answers 202 (200 in sandbox mode), as listed', async () => {
    const mail = {
      personalizations: [{ to: [{ email: 'guest@example.com' }] }],
      from: { email: 'bookings@hotel.example' },
      subject: 'Your booking',
      content: [{ type: 'text/plain', value: 'See you soon.' }],
    };
    await answers('POST', '/v3/mail/send', 202, mail);
    await answers('POST', '/v3/mail/send', 200, {
      ...mail,
      mail_settings: { sandbox_mode: { enable: true } },
    });
    await answers('POST', '/v3/mail/send', 400, { ...mail, from: {} });
    await answers('POST', '/v3/mail/send', 401, mail, { authorization: 'Bearer nope' });
  });

  test('a submission lists its Idempotency-Key header', async () => {
    for (const path of ['/v1/messages', '/v1/messages/batch']) {
      const { op } = operation('POST', path);
      assert.ok(
        (op.parameters ?? []).some((p) => p.in === 'header' && p.name === 'idempotency-key'),
        `POST ${path} lists no idempotency-key header: ${JSON.stringify(op.parameters)}`,
      );
    }
    const key = { 'idempotency-key': 'booking-42' };
    const first = await answers('POST', '/v1/messages', 202, message(), key);
    const again = await answers('POST', '/v1/messages', 202, message(), key);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
  });
});
