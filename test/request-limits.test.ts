import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/cli/config.ts';
import { openAndMigrate } from '../src/cli/wire.ts';
import {
  ensureBootstrapKey,
  hashApiKey,
  keyPrefix,
  shownKeyPrefix,
} from '../src/domain/api-keys.ts';
import { DEFAULT_BATCH_MAX_RECIPIENTS } from '../src/domain/defaults.ts';
import { START_ACTORS } from '../src/domain/operations/audit.ts';
import { ERROR_CODES, MAX_ERROR_DETAILS } from '../src/http/errors.ts';
import { LingeringSockets } from '../src/http/linger.ts';
import { SqlApiKeyStore, SqlMessageStore } from '../src/store/index.ts';
import {
  message,
  runTegami,
  spawnTegami,
  startTestService,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { rowCounts } from './support/row-counts.ts';

type ErrorBody = {
  error: {
    code: string;
    message: string;
    details?: { field: string; message: string }[];
    details_omitted?: number;
  };
};

const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const deepArray = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('bounded answers to invalid and oversized requests', () => {
  let svc: TestService;
  let db: ReturnType<typeof tempDatabase>;
  before(async () => {
    db = tempDatabase();
    // No worker: nothing changes the tables behind the test's back.
    svc = await startTestService({ TEGAMI_DATABASE_URL: db.url, TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(async () => {
    await svc.stop();
    await db.cleanup();
  });

  /** POSTs `body` and checks the answer is a 400 invalid_request that stored nothing. */
  async function refused(path: string, body: unknown, headers: Record<string, string> = {}) {
    const before = await rowCounts(db.url);
    const res = await svc.request('POST', path, body, headers);
    assert.equal(res.status, 400, JSON.stringify(res.body).slice(0, 500));
    const error = (res.body as ErrorBody).error;
    assert.equal(error.code, 'invalid_request');
    assert.deepEqual(await rowCounts(db.url), before);
    return { error, size: JSON.stringify(res.body).length };
  }

  test('one message with 300 unknown fields: 100 listed, details_omitted counts the other 200', async () => {
    const extra = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x${i}`, i]));
    const { error } = await refused('/v1/messages', message(extra));
    assert.equal(error.details?.length, MAX_ERROR_DETAILS);
    assert.equal(error.details?.[0]?.field, 'x0');
    assert.equal(error.details_omitted, 200);
  });

  test('one message with 1,000 non-string headers: the size problem alone', async () => {
    const headers = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`X-H-${i}`, i]));
    const { error } = await refused('/v1/messages', message({ headers }));
    assert.deepEqual(error.details, [
      { field: 'headers', message: 'must NOT have more than 100 properties' },
    ]);
  });

  test('a batch of 1,000 messages with bad headers: at most 100 problems, a count, a small answer', async () => {
    // Schema problems: 150 non-string headers per message (150,000 problems in all).
    const schemaBad = message({
      headers: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`X-H-${i}`, i])),
    });
    const first = await refused('/v1/messages/batch', {
      messages: Array.from({ length: 1000 }, () => schemaBad),
    });
    assert.equal(first.error.details?.length, MAX_ERROR_DETAILS);
    assert.equal(first.error.details?.[99]?.field, 'messages[99].headers');
    // Messages after the first 100 are only checked up to their first problem.
    assert.equal(first.error.details_omitted, 900);
    assert.ok(first.size < 20_000, `answer of ${first.size} bytes`);

    // Domain problems: 100 headers with a line break each (100,000 problems in all).
    const domainBad = message({
      headers: Object.fromEntries(
        Array.from({ length: 100 }, (_, i) => [`X-H-${i}`, 'a\r\nBcc: victim@example.com']),
      ),
    });
    const second = await refused('/v1/messages/batch', {
      messages: Array.from({ length: 1000 }, () => domainBad),
    });
    assert.equal(second.error.details?.length, MAX_ERROR_DETAILS);
    assert.equal(second.error.details_omitted, 999 * 100);
    assert.ok(second.size < 20_000, `answer of ${second.size} bytes`);
  });

  test('an accepted batch lists at most 100 problems across its per-message errors', async () => {
    const bad = message({ to: [{ email: 'not-an-address' }] });
    const res = await svc.request('POST', '/v1/messages/batch', {
      messages: [message(), ...Array.from({ length: 150 }, () => bad)],
    });
    assert.equal(res.status, 202, JSON.stringify(res.body).slice(0, 500));
    assert.equal(res.body.accepted, 1);
    assert.equal(res.body.rejected, 150);
    const errors = (res.body.results as { index: number; error?: ErrorBody['error'] }[])
      .filter((r) => r.error)
      .map((r) => r.error as ErrorBody['error']);
    const listed = errors.reduce((n, e) => n + (e.details?.length ?? 0), 0);
    assert.equal(listed, MAX_ERROR_DETAILS);
    assert.deepEqual(errors[0]?.details, [
      { field: 'to[0].email', message: 'is not a valid email address' },
    ]);
    const last = errors[149];
    assert.equal(last?.details, undefined);
    assert.equal(last?.details_omitted, 1);
    assert.match(last?.message ?? '', /not listed/);
  });

  test(`a batch over ${DEFAULT_BATCH_MAX_RECIPIENTS} recipients in all is refused before anything else`, async () => {
    const many = (m: number) =>
      message({
        to: Array.from({ length: 1000 }, (_, i) => ({ email: `guest${i}.${m}@example.com` })),
      });
    const { error } = await refused('/v1/messages/batch', {
      messages: Array.from({ length: 11 }, (_, m) => many(m)),
    });
    assert.match(error.message, /11000 recipients/);
    assert.deepEqual(
      error.details?.map((d) => d.field),
      ['messages'],
    );
  });

  test('nesting 10,000 levels deep never gets a 500, with or without an Idempotency-Key', async () => {
    const valid = JSON.stringify(message());
    for (const withKey of [false, true]) {
      let n = 0;
      const headers = (): Record<string, string> =>
        withKey ? { 'idempotency-key': `deep-${++n}` } : {};
      const batch = `{"messages":[${valid},${deepObject(10_000)},${deepArray(10_000)}]}`;
      const batchHeaders = headers();
      const res = await svc.request('POST', '/v1/messages/batch', batch, batchHeaders);
      assert.equal(res.status, 202, JSON.stringify(res.body).slice(0, 300));
      assert.equal(res.body.accepted, 1);
      if (withKey) {
        const again = await svc.request('POST', '/v1/messages/batch', batch, batchHeaders);
        assert.equal(again.status, 202);
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
      }
      await refused('/v1/messages', `${valid.slice(0, -1)},"x":${deepObject(10_000)}}`, headers());
      await refused('/v1/messages/batch', `{"messages":[${deepArray(100_000)}]}`, headers());
      await refused('/v1/messages', deepArray(100_000), headers());
    }
  });

  test('a retry with its keys in another order replays; a different body is still a 409', async () => {
    const original = message({ metadata: { booking: 'B-7', room: '12' } });
    const reordered = `{"text":"See you soon.","metadata":{"room":"12","booking":"B-7"},
      "subject":"Your booking is confirmed","to":[{"name":"Guest","email":"guest@example.com"}],
      "from":{"name":"Hotel","email":"bookings@hotel.example"}}`;
    for (const path of ['/v1/messages', '/v1/messages/batch']) {
      const headers = { 'idempotency-key': `reorder-${path}` };
      const wrap = (body: string) => (path.endsWith('batch') ? `{"messages":[${body}]}` : body);
      const first = await svc.request('POST', path, wrap(JSON.stringify(original)), headers);
      assert.equal(first.status, 202);
      const retry = await svc.request('POST', path, wrap(reordered), headers);
      assert.equal(retry.status, 202, JSON.stringify(retry.body));
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(retry.body, first.body);
      const other = await svc.request('POST', path, wrap(reordered.replace('B-7', 'B-8')), headers);
      assert.equal(other.status, 409);
      assert.equal(other.body.error.code, 'idempotency_key_reused');
    }
  });

  // What earlier versions stored for the same body: the hash of the route and the body as parsed,
  // in key order (before hashes were canonical), and the canonical hash (pinned: a change to it
  // breaks every retry that spans an upgrade).
  const body = message({ metadata: { b: '2', a: '1' } });
  const storedHashes = {
    'before hashes were canonical': createHash('sha256')
      .update(`/v1/messages\n${JSON.stringify(body)}`)
      .digest('hex'),
    'with the canonical hash': '165b95cf89c8ab9a52fccc6ee3a1deeab7fba3cd6aec6ed288f08d3fa70fb8f3',
  };
  for (const [i, [kind, requestHash]] of Object.entries(storedHashes).entries()) {
    test(`a key stored ${kind} still replays its exact retry`, async () => {
      // The service's only key.
      const [apiKey] = await new SqlApiKeyStore(svc.service.database).listPage({ limit: 1 });
      assert.ok(apiKey);
      const answer = JSON.stringify({ id: 'msg_01J00000000000000000000000', status: 'queued' });
      const key = `stored-by-an-older-version-${i}`;
      const stored = await new SqlMessageStore(svc.service.database).submit({
        messages: [],
        idempotency: {
          apiKeyId: apiKey.id,
          key,
          requestHash,
          responseStatus: 202,
          responseBody: answer,
        },
      });
      assert.equal(stored.kind, 'stored');
      const headers = { 'idempotency-key': key };
      const retry = await svc.request('POST', '/v1/messages', body, headers);
      assert.equal(retry.status, 202, JSON.stringify(retry.body));
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(retry.body, JSON.parse(answer));
      const other = await svc.request('POST', '/v1/messages', message(), headers);
      assert.equal(other.status, 409);
    });
  }

  test('__proto__ is named as the problem, wherever it is and however it is escaped', async () => {
    const valid = JSON.stringify(message());
    const cases: [string, string][] = [
      [`{"__proto__":{"admin":true},${valid.slice(1)}`, '__proto__'],
      [`{"\\u005f_proto__":{"admin":true},${valid.slice(1)}`, '__proto__'],
      [`${valid.slice(0, -1)},"metadata":{"__proto__":"x"}}`, 'metadata.__proto__'],
      [`${valid.slice(0, -1)},"to":[{"email":"a@b.co","__proto__":{}}]}`, 'to[0].__proto__'],
      [`{"constructor":{"prototype":{"admin":true}},${valid.slice(1)}`, 'constructor'],
      [`{"messages":[{"__proto__":1}]}`, 'messages[0].__proto__'],
    ];
    for (const [body, field] of cases) {
      for (const path of ['/v1/messages', '/v1/messages/batch']) {
        const { error } = await refused(path, body);
        assert.match(error.message, /is not allowed/, body);
        assert.deepEqual(
          error.details?.map((d) => d.field),
          [field],
          body,
        );
      }
    }
    // An ordinary key named "constructor" is just data.
    const res = await svc.request(
      'POST',
      '/v1/messages',
      message({ metadata: { constructor: 'x' } }),
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  test('a lone surrogate (\\ud800) is refused by name on both engines, not stored or a 503', async () => {
    // Found by test/fuzz-submission.test.ts: PostgreSQL answered 503, SQLite stored U+FFFD.
    const valid = JSON.stringify(message());
    const cases: [string, string, string][] = [
      ['/v1/messages', `${valid.slice(0, -1)},"metadata":{"ref":"a\\ud800"}}`, 'metadata.ref'],
      ['/v1/messages', `${valid.slice(0, -1)},"metadata":{"\\udc00":"x"}}`, 'metadata.\udc00'],
      ['/v1/messages', valid.replace('See you soon.', 'x\\udbff'), 'text'],
      [
        '/v1/messages/batch',
        `{"messages":[${valid.replace('Hotel', '\\ud800')}]}`,
        'messages[0].from.name',
      ],
    ];
    for (const [path, body, field] of cases) {
      const { error } = await refused(path, body);
      assert.match(error.message, /lone UTF-16 surrogate/);
      assert.deepEqual(
        error.details?.map((d) => d.field),
        [field],
        body,
      );
    }
    // A pair written as escapes is an ordinary character.
    const res = await svc.request('POST', '/v1/messages', valid.replace('Hotel', '\\ud83c\\udfe8'));
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });
});

describe('batch recipient bound is configurable', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_BATCH_MAX_RECIPIENTS: '3', TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(() => svc.stop());

  test('TEGAMI_BATCH_MAX_RECIPIENTS=3: three recipients in all pass, four do not', async () => {
    const two = message({ cc: [{ email: 'second@example.com' }] });
    const ok = await svc.request('POST', '/v1/messages/batch', { messages: [two, message()] });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    const over = await svc.request('POST', '/v1/messages/batch', { messages: [two, two] });
    assert.equal(over.status, 400);
    assert.match(over.body.error.message, /4 recipients .* more than the 3/);
    // One message is bounded by its own limit (1,000), not by the batch's.
    const single = await svc.request('POST', '/v1/messages', {
      ...two,
      bcc: [{ email: 'third@example.com' }, { email: 'fourth@example.com' }],
    });
    assert.equal(single.status, 202);
  });

  test('the variable is checked at start', () => {
    assert.throws(() => loadConfig({ TEGAMI_BATCH_MAX_RECIPIENTS: '0' }), /out of range/);
    assert.equal(loadConfig({}).batchMaxRecipients, DEFAULT_BATCH_MAX_RECIPIENTS);
  });
});

describe('an oversized upload reads its 413 (real process, Node fetch)', () => {
  const db = tempDatabase();
  const server = spawnTegami(['api'], {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await db.cleanup();
  });

  const post = (url: string, body: RequestInit['body'], extra: RequestInit = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body,
      ...extra,
    });

  async function expect413(response: Response) {
    assert.equal(response.status, 413);
    const body = (await response.json()) as ErrorBody;
    assert.equal(body.error.code, 'payload_too_large');
    assert.equal(ERROR_CODES.payload_too_large.status, 413);
    assert.equal(typeof body.error.message, 'string');
  }

  test('45 MB to POST /v1/messages, ten times over: always a 413 with the error shape', async () => {
    const url = await server.ready;
    const body = JSON.stringify(message({ text: 'x'.repeat(45 * 1024 * 1024) }));
    // Before the fix about a third of these ended in EPIPE or a reset on an idle machine.
    for (let i = 0; i < 10; i++) await expect413(await post(`${url}/v1/messages`, body));
    // A batch over its own 50 MiB limit, too.
    const batch = JSON.stringify({ messages: [message({ text: 'x'.repeat(52 * 1024 * 1024) })] });
    await expect413(await post(`${url}/v1/messages/batch`, batch));
  });

  test('a streamed upload with no Content-Length gets its 413 too', async () => {
    const url = await server.ready;
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 45) controller.close();
        else {
          sent++;
          controller.enqueue(chunk);
        }
      },
    });
    await expect413(await post(`${url}/v1/messages`, stream, { duplex: 'half' } as RequestInit));
  });

  test('the connection stays usable: a normal request follows on it', async () => {
    const url = await server.ready;
    const body = JSON.stringify(message({ text: 'x'.repeat(12 * 1024 * 1024) }));
    await expect413(await post(`${url}/v1/messages`, body));
    const ok = await post(`${url}/v1/messages`, JSON.stringify(message()));
    assert.equal(ok.status, 202);
  });
});

describe('lingering after an early answer is bounded', () => {
  const lingering = new LingeringSockets({ idleMs: 300, maxBytes: 256 * 1024, maxMs: 5_000 });
  const server = createServer((request, response) => {
    response.writeHead(413, { 'content-type': 'application/json' }).end('{"error":{}}');
    response.on('finish', () => lingering.drainUnreadBody(request));
  });
  before(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  after(() => {
    lingering.closeAll();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends headers announcing `declared` bytes, then `send` is called until the socket closes. */
  function upload(declared: number, send: (write: (b: Buffer) => boolean) => void) {
    const { port } = server.address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let closed = false;
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    socket.write(
      `POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`,
    );
    send((b) => !socket.destroyed && socket.write(b));
    return { answer: () => answer, closed: () => closed, socket };
  }

  test('a client that stops sending is closed once it has been idle', async () => {
    const started = Date.now();
    const client = upload(10_000_000, (write) => write(Buffer.alloc(1000)));
    await waitFor(async () => client.closed(), 'the idle connection to be closed', 10_000);
    assert.match(client.answer(), /^HTTP\/1.1 413/);
    assert.ok(Date.now() - started >= 250, 'it was given the idle time first');
  });

  test('a client that keeps sending is closed after the byte bound', async () => {
    let timer: NodeJS.Timeout | undefined;
    let written = 0;
    const client = upload(1_000_000_000, (write) => {
      timer = setInterval(() => {
        if (write(Buffer.alloc(64 * 1024))) written += 64 * 1024;
      }, 5);
    });
    try {
      await waitFor(async () => client.closed(), 'the connection to be closed', 10_000);
    } finally {
      clearInterval(timer);
    }
    assert.match(client.answer(), /^HTTP\/1.1 413/);
    assert.ok(written < 100 * 1024 * 1024, `closed after ${written} bytes`);
  });

  test('a body that ends in time leaves the connection open', async () => {
    const client = upload(300_000, (write) => write(Buffer.alloc(300_000)));
    await waitFor(async () => client.answer().includes('413'), 'the answer');
    await new Promise((r) => setTimeout(r, 800)); // longer than the idle bound
    assert.equal(client.closed(), false);
    client.socket.destroy();
  });
});

describe('API key prefixes', () => {
  test('a fixed short prefix, whatever the length of the key', () => {
    assert.equal(keyPrefix('tgm_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'), 'tgm_abcd');
    assert.equal(keyPrefix('a-long-bootstrap-key-of-many-characters'), 'a-lo');
    assert.equal(keyPrefix('dev-secret-key'), '');
    assert.equal(keyPrefix('tgm_short'), 'tgm_');
    for (let length = 1; length < 200; length++) {
      const key = 'k'.repeat(length);
      assert.ok(keyPrefix(key).length <= 4, `a key of ${length} characters`);
      assert.ok(keyPrefix(`tgm_${key}`).length <= 8);
    }
    // What older versions stored: 10 characters, or half of a short key.
    assert.equal(shownKeyPrefix('tgm_abcdef'), 'tgm_abcd');
    assert.equal(shownKeyPrefix('dev-se'), 'dev-');
  });

  test('`tegami keys list` shows no more than 4 characters of a short bootstrap key', async () => {
    const db = tempDatabase();
    try {
      const config = loadConfig({ TEGAMI_DATABASE_URL: db.url });
      const { database } = await openAndMigrate(config);
      try {
        const store = new SqlApiKeyStore(database);
        // A row as an older version wrote it: half of the 14-character key.
        await store.insert(
          {
            id: 'key_01J0000000000000000000000A',
            name: 'bootstrap (TEGAMI_BOOTSTRAP_API_KEY)',
            prefix: 'dev-sec',
            createdAt: Date.now(),
            revokedAt: null,
          },
          hashApiKey('dev-secret-key'),
          null,
        );
        await ensureBootstrapKey(store, 'dev-secret-key', START_ACTORS.bootstrapKey);
        await ensureBootstrapKey(
          store,
          'another-bootstrap-key-of-some-length',
          START_ACTORS.bootstrapKey,
        );
        assert.deepEqual(
          (await store.listPage({ limit: 10 })).map((k) => k.prefix),
          ['anot', ''],
          'the stored prefixes, newest first',
        );
      } finally {
        await database.close();
      }
      const listed = await runTegami(['keys', 'list'], { TEGAMI_DATABASE_URL: db.url });
      assert.equal(listed.code, 0, listed.output);
      assert.doesNotMatch(listed.output, /dev-/);
      assert.match(listed.output, /\tanot…\t/);
    } finally {
      await db.cleanup();
    }
  });
});
