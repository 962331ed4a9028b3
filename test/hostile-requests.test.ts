import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ERROR_CODES } from '../src/http/errors.ts';
import {
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_KEY,
  type TestService,
  tempDatabase,
} from './helpers.ts';

const big = 'x'.repeat(11 * 1024 * 1024);

/** Requests an attacker or a buggy client might send; each must get a 4xx and store nothing. */
const corpus: {
  name: string;
  path?: string;
  body: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  field?: string;
}[] = [
  { name: 'malformed JSON', body: '{"from": ', status: 400, code: 'malformed_json' },
  { name: 'empty JSON body', body: '', status: 400, code: 'invalid_request' },
  { name: 'JSON array instead of object', body: '[]', status: 400, code: 'invalid_request' },
  { name: 'JSON null', body: 'null', status: 400, code: 'invalid_request' },
  {
    name: 'wrong content type',
    body: 'from=a',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    // A JSON text labelled text/plain: the wrong media type, as any other, not "must be object".
    name: 'JSON sent as text/plain',
    body: message(),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'unknown top-level field',
    body: message({ importance: 'high' }),
    status: 400,
    code: 'invalid_request',
    field: 'importance',
  },
  {
    name: 'unknown field in an address',
    body: message({ to: [{ email: 'a@b.co', admin: true }] }),
    status: 400,
    code: 'invalid_request',
    field: 'to[0].admin',
  },
  {
    name: 'missing from',
    body: { to: [{ email: 'a@b.co' }], subject: 's', text: 't' },
    status: 400,
    code: 'invalid_request',
    field: 'from',
  },
  {
    name: 'no recipients',
    body: message({ to: [] }),
    status: 400,
    code: 'invalid_request',
    field: 'to',
  },
  {
    name: 'invalid address',
    body: message({ to: [{ email: 'guest(at)example.com' }] }),
    status: 400,
    code: 'invalid_request',
    field: 'to[0].email',
  },
  {
    name: 'address with CRLF',
    body: message({ to: [{ email: 'a@b.co\r\nBcc: victim@x.com' }] }),
    status: 400,
    code: 'invalid_request',
    field: 'to[0].email',
  },
  {
    name: 'name with CRLF',
    body: message({ from: { email: 'a@b.co', name: 'A\r\nBcc: v@x.com' } }),
    status: 400,
    code: 'invalid_request',
    field: 'from.name',
  },
  {
    name: 'subject with LF',
    body: message({ subject: 'Hi\nBcc: v@x.com' }),
    status: 400,
    code: 'invalid_request',
    field: 'subject',
  },
  {
    name: 'header value with CR',
    body: message({ headers: { 'X-Ref': 'a\rb' } }),
    status: 400,
    code: 'invalid_request',
    field: 'headers.X-Ref',
  },
  {
    name: 'reserved header',
    body: message({ headers: { 'Content-Type': 'text/evil' } }),
    status: 400,
    code: 'invalid_request',
    field: 'headers.Content-Type',
  },
  {
    name: 'reserved header, odd case',
    body: message({ headers: { bCc: 'v@x.com' } }),
    status: 400,
    code: 'invalid_request',
    field: 'headers.bCc',
  },
  {
    name: 'header name with a colon',
    body: message({ headers: { 'X-A: b': 'c' } }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'no content',
    body: message({ text: undefined }),
    status: 400,
    code: 'invalid_request',
    field: 'text',
  },
  {
    name: 'empty subject',
    body: message({ subject: '  ' }),
    status: 400,
    code: 'invalid_request',
    field: 'subject',
  },
  {
    name: 'too many recipients',
    body: message({
      to: Array.from({ length: 600 }, (_, i) => ({ email: `g${i}@x.co` })),
      cc: Array.from({ length: 600 }, (_, i) => ({ email: `c${i}@x.co` })),
    }),
    status: 400,
    code: 'invalid_request',
    field: 'to',
  },
  {
    name: 'duplicate recipient',
    body: message({ cc: [{ email: 'GUEST@example.com' }] }),
    status: 400,
    code: 'invalid_request',
    field: 'cc[0].email',
  },
  {
    name: 'eleven categories',
    body: message({ categories: Array.from({ length: 11 }, (_, i) => `c${i}`) }),
    status: 400,
    code: 'invalid_request',
    field: 'categories',
  },
  {
    name: 'metadata value not a string',
    body: message({ metadata: { n: 1 } }),
    status: 400,
    code: 'invalid_request',
    field: 'metadata.n',
  },
  {
    name: 'metadata value with a NUL character',
    body: message({ metadata: { n: 'a\u0000b' } }),
    status: 400,
    code: 'invalid_request',
    field: 'metadata.n',
  },
  {
    name: 'attachment with bad base64',
    body: message({
      attachments: [{ filename: 'a.pdf', content: 'not base64!', content_type: 'application/pdf' }],
    }),
    status: 400,
    code: 'invalid_request',
    field: 'attachments[0].content',
  },
  {
    name: 'attachment with bad type',
    body: message({ attachments: [{ filename: 'a.pdf', content: 'aGk=', content_type: 'pdf' }] }),
    status: 400,
    code: 'invalid_request',
    field: 'attachments[0].content_type',
  },
  {
    name: 'send_at not ISO',
    body: message({ send_at: 'tomorrow' }),
    status: 400,
    code: 'invalid_request',
    field: 'send_at',
  },
  {
    name: 'send_at too far ahead',
    body: message({ send_at: '2999-01-01T00:00:00Z' }),
    status: 400,
    code: 'invalid_request',
    field: 'send_at',
  },
  {
    name: 'prototype pollution',
    body: '{"__proto__":{"admin":true},"from":{"email":"a@b.co"},"to":[{"email":"c@d.co"}],"subject":"s","text":"t"}',
    status: 400,
    code: 'invalid_request',
    field: '__proto__',
  },
  {
    name: 'number where a string belongs',
    body: message({ subject: 42 }),
    status: 400,
    code: 'invalid_request',
    field: 'subject',
  },
  {
    name: 'oversized payload',
    body: message({ text: big }),
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'bad idempotency key',
    body: message(),
    headers: { 'idempotency-key': 'a b' },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'batch not an array',
    path: '/v1/messages/batch',
    body: { messages: {} },
    status: 400,
    code: 'invalid_request',
    field: 'messages',
  },
  {
    name: 'empty batch',
    path: '/v1/messages/batch',
    body: { messages: [] },
    status: 400,
    code: 'invalid_request',
    field: 'messages',
  },
  {
    name: 'batch over 1,000',
    path: '/v1/messages/batch',
    body: { messages: Array.from({ length: 1001 }, () => ({})) },
    status: 400,
    code: 'invalid_request',
    field: 'messages',
  },
  {
    name: 'batch of only invalid messages',
    path: '/v1/messages/batch',
    body: { messages: [message({ to: [{ email: 'x' }] })] },
    status: 400,
    code: 'invalid_request',
    field: 'messages[0].to[0].email',
  },
];

describe('malformed and hostile requests', () => {
  let svc: TestService;
  let db: ReturnType<typeof tempDatabase>;
  before(async () => {
    db = tempDatabase();
    svc = await startTestService({ TEGAMI_DATABASE_URL: db.url });
  });
  after(async () => {
    await svc.stop();
    await db.cleanup();
  });

  async function rowCounts(): Promise<Record<string, number>> {
    const tables = [
      'messages',
      'recipients',
      'message_categories',
      'message_metadata',
      'attempts',
      'idempotency_keys',
      'sandbox_messages',
    ];
    const [counts] = await queryDatabase<Record<string, number>>(
      db.url,
      `select ${tables.map((t) => `(select count(*) from ${t}) as ${t}`).join(', ')}`,
    );
    assert.ok(counts);
    return counts;
  }

  for (const c of corpus) {
    test(`${c.name} → ${c.status} ${c.code}, nothing stored`, async () => {
      const before = await rowCounts();
      const headers: Record<string, string> = {
        authorization: `Bearer ${TEST_KEY}`,
        'content-type': 'application/json',
        ...c.headers,
      };
      const response = await fetch(`${svc.url}${c.path ?? '/v1/messages'}`, {
        method: 'POST',
        headers,
        body: typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
      });
      const body = (await response.json()) as {
        error: { code: string; message: string; details?: { field: string; message: string }[] };
      };
      assert.equal(response.status, c.status, JSON.stringify(body));
      assert.equal(body.error.code, c.code);
      assert.equal(ERROR_CODES[body.error.code as keyof typeof ERROR_CODES].status, c.status);
      assert.equal(typeof body.error.message, 'string');
      if (c.field) {
        assert.ok(
          body.error.details?.some((d) => d.field === c.field),
          `expected a detail for ${c.field}, got ${JSON.stringify(body.error.details)}`,
        );
      }
      assert.deepEqual(await rowCounts(), before);
    });
  }

  test('garbage paths, methods and ids give 4xx, never 5xx', async () => {
    const probes: [string, string][] = [
      ['GET', '/v1/messages/%00'],
      ['POST', '/v1/messages/msg_%00/retry'],
      ['GET', `/v1/messages/${'a'.repeat(5000)}`],
      ['GET', '/v1/messages?limit=-1'],
      ['GET', '/v1/messages?limit=abc'],
      ['GET', '/v1/messages?cursor=!!!'],
      ['GET', '/v1/messages?status=bogus'],
      ['GET', '/v1/messages?created_after=yesterday'],
      ['GET', '/v1/messages?created_after=2026-02-30'],
      ['GET', '/v1/messages?metadata=novalue'],
      ['GET', '/v1/messages?unknown=1'],
      ['DELETE', '/v1/messages'],
      ['POST', '/v1/messages/msg_x/cancel'],
      ['GET', '/../../etc/passwd'],
    ];
    for (const [method, path] of probes) {
      const response = await fetch(`${svc.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_KEY}` },
      });
      assert.ok(
        response.status >= 400 && response.status < 500,
        `${method} ${path} gave ${response.status}`,
      );
      const body = (await response.json()) as { error: { code: string } };
      assert.ok(body.error.code in ERROR_CODES, `${method} ${path}: ${JSON.stringify(body)}`);
    }
    // A NUL in a filter finds nothing (SQLite) or is refused (PostgreSQL stores no NUL in text);
    // either way never a 5xx.
    for (const path of [
      '/v1/messages?recipient=a%00b@example.com',
      '/v1/messages?category=a%00b',
    ]) {
      const response = await fetch(`${svc.url}${path}`, {
        headers: { authorization: `Bearer ${TEST_KEY}` },
      });
      assert.ok([200, 400].includes(response.status), `GET ${path} gave ${response.status}`);
      if (response.status === 200) {
        assert.deepEqual(((await response.json()) as { data: unknown[] }).data, []);
      }
    }
  });

  test('an empty text/plain body (fetch with body "") is no body; a JSON text as text/plain is 415', async () => {
    const accepted = await request(
      svc.url,
      'POST',
      '/v1/messages',
      message({ send_at: new Date(Date.now() + 3_600_000).toISOString() }),
    );
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    // fetch labels a string body text/plain;charset=UTF-8.
    const cancel = await fetch(`${svc.url}/v1/messages/${accepted.body.id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}` },
      body: '',
    });
    assert.equal(cancel.status, 200, await cancel.text());
  });

  test('a body of any type to a path that is not served is 404, not 415: the Event Webhook without its key, a wrong path', async () => {
    // This service has no TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: its Event Webhook endpoint is off.
    for (const path of ['/webhooks/sendgrid', '/v1/no-such-thing']) {
      for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', '']) {
        const response = await fetch(`${svc.url}${path}`, {
          method: 'POST',
          headers: type ? { 'content-type': type } : {},
          body: '[]',
        });
        const what = `POST ${path} as ${type || 'no type'}`;
        assert.equal(response.status, 404, what);
        const body = (await response.json()) as { error: { code: string } };
        assert.equal(body.error.code, 'not_found', what);
      }
    }
  });

  test('what the router refuses (over-long path parameter, broken percent-encoding) is a 400 that does not echo the path', async () => {
    const markup = encodeURIComponent('"><x-fuzz a=1>');
    for (const path of [
      `/v1/messages/${markup}${'x'.repeat(200)}`,
      `/console/messages/${markup}/attachments/${'x'.repeat(101)}`,
      `/v1/messages/${markup}%E0%A4%A`,
    ]) {
      const r = await fetch(`${svc.url}${path}`, {
        headers: { authorization: `Bearer ${TEST_KEY}` },
      });
      const text = await r.text();
      assert.equal(r.status, 400, `${path}: ${text}`);
      assert.equal(JSON.parse(text).error.code, 'invalid_request');
      assert.ok(!text.includes('x-fuzz') && !text.includes('xxxx'), `${path} echoed: ${text}`);
    }
  });

  test('what the HTTP parser refuses (unencoded non-ASCII in the URL, huge headers) has the same error shape', async () => {
    const { port } = new URL(svc.url);
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(head));
        let answer = '';
        socket.on('data', (chunk) => {
          answer += chunk.toString('utf8');
        });
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    const unencoded = await raw(
      `GET /v1/messages?recipient=髙﨑@example.jp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\n\r\n`,
    );
    assert.match(unencoded, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(unencoded.slice(unencoded.indexOf('\r\n\r\n') + 4));
    assert.equal(body.error.code, 'invalid_request');
    assert.match(body.error.message, /percent-encode/);

    const huge = await raw(
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.match(huge, /^HTTP\/1\.1 431 /);
    const hugeBody = JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4));
    assert.equal(hugeBody.error.code, 'headers_too_large');
  });
});
