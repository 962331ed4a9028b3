import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  message,
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
} from './helpers.ts';
import { rowCounts as countRows } from './support/row-counts.ts';

/**
 * The API as a client author meets it: the same request mistake gets the same answer on every
 * `/v1` route (docs/api-errors.md). The routes are taken from the served OpenAPI document, so a
 * new list or a new bodiless POST is probed without being named here:
 *
 * - every list's `limit`, spelt as clients spell numbers (`0500`, `+5`, `5.0`, `1e2`, …);
 * - every query parameter of every route, empty and given twice, and one no route takes;
 * - every route that takes no body, sent one (fields, `null`, text, another charset) and sent
 *   "nothing" in the ways clients send it;
 * - JSON in another charset than UTF-8 on the routes with a body (and `/v3`, which reads it as
 *   SendGrid does);
 * - a method a path does not take (405 with `Allow`, OPTIONS included).
 *
 * Every refusal has the error shape of `components.schemas.Error` and changes nothing stored.
 */

type Operation = {
  method: string;
  path: string;
  query: { name: string; schema: Record<string, unknown> }[];
  body: boolean;
};

const FAKE = '01M95FPYS6Y4PAGG49NF66J56P';

interface ErrorBody {
  code: string;
  message: string;
  details?: { field: string; message: string }[];
}

/** What the routes answer here: an error, a list, a message, or SendGrid's errors. */
interface Body {
  error?: ErrorBody;
  errors?: unknown[];
  data?: { id: string }[];
  id?: string;
  status?: string;
}

describe(`the API answers a mistake the same way on every route (${TEST_ENGINE})`, () => {
  let svc: TestService;
  let operations: Operation[];
  let scheduled: string;
  let endpoint: string;

  const send = async (
    method: string,
    path: string,
    init: { body?: string; type?: string; key?: string | null } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (init.key !== null) headers.authorization = `Bearer ${init.key ?? TEST_KEY}`;
    if (init.type !== undefined) headers['content-type'] = init.type;
    const response = await fetch(`${svc.url}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    const text = await response.text();
    let body: Body = {};
    try {
      body = JSON.parse(text) as Body;
    } catch {
      // not JSON (204, HEAD): no body to look at
    }
    return { status: response.status, body, headers: response.headers };
  };

  /** An error answer in the one error shape, with this status and code. */
  const refused = (
    answer: { status: number; body: Body },
    status: number,
    code: string,
    what: string,
  ) => {
    const seen = `${what}: ${answer.status} ${JSON.stringify(answer.body)}`;
    assert.equal(answer.status, status, seen);
    assert.deepEqual(Object.keys(answer.body), ['error'], seen);
    const error = answer.body.error as ErrorBody;
    assert.equal(error.code, code, seen);
    assert.equal(typeof error.message, 'string', seen);
    for (const key of Object.keys(error)) {
      assert.ok(['code', 'message', 'details', 'details_omitted'].includes(key), seen);
    }
    for (const detail of error.details ?? []) {
      assert.deepEqual(Object.keys(detail).sort(), ['field', 'message'], seen);
    }
    return error as {
      code: string;
      message: string;
      details?: { field: string; message: string }[];
    };
  };

  /** Every table requests write (test/support/row-counts.ts leaves out the background jobs'). */
  const rowCounts = () => countRows(svc.databaseUrl);

  const statusOf = async (id: string) =>
    (
      await queryDatabase<{ status: string }>(
        svc.databaseUrl,
        'select status from messages where id = ?',
        [id],
      )
    )[0]?.status;

  const scheduleOne = async () => {
    const answer = await svc.request(
      'POST',
      '/v1/messages',
      message({ send_at: new Date(Date.now() + 86_400_000).toISOString() }),
    );
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    return answer.body.id as string;
  };

  /** A path of the document with its parameters filled: real objects where there are some. */
  const fill = (path: string) =>
    path
      .replace('/v1/messages/{id}', `/v1/messages/${scheduled}`)
      .replace('/v1/webhook-endpoints/{id}', `/v1/webhook-endpoints/${endpoint}`)
      .replace('/v1/recoveries/{id}', `/v1/recoveries/rec_${FAKE}`)
      .replace('/v1/alerts/{id}', `/v1/alerts/alt_${FAKE}`)
      .replace('/v1/units/{id}', '/v1/units/default')
      .replace('/v1/providers/{name}', '/v1/providers/sandbox')
      .replace('/v1/suppressions/{email}', '/v1/suppressions/kept%40example.com');

  before(async () => {
    svc = await startTestService(
      { TEGAMI_TEST_NO_WORKER: '1', TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true' },
      { housekeeping: false },
    );
    scheduled = await scheduleOne();
    const made = await svc.request('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.sent'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    endpoint = made.body.id;
    const kept = await svc.request('POST', '/v1/suppressions', { email: 'kept@example.com' });
    assert.ok([200, 201].includes(kept.status), JSON.stringify(kept.body));
    const document = (await send('GET', '/openapi.json')).body as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { in: string; name: string; schema: Record<string, unknown> }[];
            requestBody?: unknown;
          }
        >
      >;
    };
    operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({
          method: method.toUpperCase(),
          path,
          query: (op.parameters ?? [])
            .filter((p) => p.in === 'query')
            .map((p) => ({ name: p.name, schema: p.schema })),
          body: op.requestBody !== undefined,
        })),
      );
    assert.ok(operations.length > 30, `${operations.length} operations in the document`);
  });
  after(async () => {
    await svc?.stop();
  });

  test('every list refuses a limit not in plain digits or out of range with one sentence, and takes 1', async () => {
    const lists = operations.filter(
      (op) => op.method === 'GET' && op.query.some((q) => q.name === 'limit'),
    );
    assert.ok(lists.length >= 9, lists.map((l) => l.path).join(', '));
    const before = await rowCounts();
    for (const list of lists) {
      const path = fill(list.path);
      for (const spelling of [
        '0500',
        '+5',
        '5.0',
        '%205',
        '5%20',
        '1e2',
        '0',
        '-1',
        'abc',
        '0x10',
      ]) {
        const error = refused(
          await send('GET', `${path}?limit=${spelling}`),
          400,
          'invalid_request',
          `GET ${path}?limit=${spelling}`,
        );
        assert.equal(error.message, 'the query is invalid; see details');
        assert.equal(error.details?.[0]?.field, 'querystring.limit');
        assert.match(
          error.details?.[0]?.message ?? '',
          /^must be a whole number from 1 to \d+, in plain digits without a leading zero/,
        );
      }
      const range = /from 1 to (\d+)/.exec(
        refused(await send('GET', `${path}?limit=0`), 400, 'invalid_request', path).details?.[0]
          ?.message ?? '',
      );
      const most = Number(range?.[1]);
      refused(await send('GET', `${path}?limit=${most + 1}`), 400, 'invalid_request', path);
      // Both named in one answer, on every list.
      const both = refused(
        await send('GET', `${path}?limit=0&cursor=bm90LWEtY3Vyc29y`),
        400,
        'invalid_request',
        `GET ${path}?limit=0&cursor=…`,
      );
      assert.deepEqual(
        both.details?.map((d) => d.field),
        ['querystring.limit', 'querystring.cursor'],
        path,
      );
      for (const ok of ['1', String(most)]) {
        const answer = await send('GET', `${path}?limit=${ok}`);
        assert.equal(answer.status, 200, `GET ${path}?limit=${ok}: ${JSON.stringify(answer.body)}`);
      }
    }
    assert.deepEqual(await rowCounts(), before);
  });

  test('every query parameter of every route: empty or given twice is refused, naming it; unknown ones too', async () => {
    const before = await rowCounts();
    let probed = 0;
    for (const op of operations) {
      const path = fill(op.path);
      const what = (q: string) => `${op.method} ${path}?${q}`;
      for (const { name, schema } of op.query) {
        const empty = refused(
          await send(op.method, `${path}?${name}=`),
          400,
          'invalid_request',
          what(`${name}=`),
        );
        assert.deepEqual(empty.details, [
          {
            field: `querystring.${name}`,
            message: 'must not be empty: leave the parameter out instead',
          },
        ]);
        const several = JSON.stringify(schema).includes('"array"');
        const twice = await send(op.method, `${path}?${name}=a%3Db&${name}=c%3Dd`);
        if (several) {
          assert.ok(twice.status < 500, what(`${name} twice`));
          // Given more times than it takes: one line naming it, not one per alternative.
          const most = Number(/"maxItems":(\d+)/.exec(JSON.stringify(schema))?.[1] ?? Number.NaN);
          if (Number.isInteger(most)) {
            const many = Array.from({ length: most + 1 }, (_, i) => `${name}=k${i}%3Dv`);
            const error = refused(
              await send(op.method, `${path}?${many.join('&')}`),
              400,
              'invalid_request',
              what(`${name} ${most + 1} times`),
            );
            assert.deepEqual(error.details, [
              { field: `querystring.${name}`, message: `may be given at most ${most} times` },
            ]);
          }
          assert.ok(
            !JSON.stringify(twice.body).includes('must be given once'),
            `${what(`${name} twice`)}: ${JSON.stringify(twice.body)}`,
          );
        } else {
          const error = refused(twice, 400, 'invalid_request', what(`${name} twice`));
          assert.deepEqual(error.details, [
            { field: `querystring.${name}`, message: 'must be given once, not 2 times' },
          ]);
        }
        probed++;
      }
      // A parameter no route takes, alone and next to an empty one: both named in one answer.
      const unknown = refused(
        await send(op.method, `${path}?stauts=failed`),
        400,
        'invalid_request',
        what('stauts=failed'),
      );
      assert.deepEqual(unknown.details, [
        { field: 'querystring.stauts', message: 'is not a known field' },
      ]);
      const first = op.query[0]?.name;
      if (first) {
        const both = refused(
          await send(op.method, `${path}?stauts=x&${first}=`),
          400,
          'invalid_request',
          what(`stauts=x&${first}=`),
        );
        assert.deepEqual(
          both.details?.map((d) => d.field),
          ['querystring.stauts', `querystring.${first}`],
        );
      }
    }
    assert.ok(probed > 60, `${probed} query parameters probed`);
    assert.deepEqual(await rowCounts(), before);
    assert.equal(await statusOf(scheduled), 'scheduled');
    const still = await svc.request('GET', '/v1/webhook-endpoints');
    assert.ok(still.body.data.some((e: { id: string }) => e.id === endpoint));
  });

  test('a route that takes no body refuses one (fields, other JSON, text, another charset) and does nothing', async () => {
    const bodiless = operations.filter((op) => op.method !== 'GET' && !op.body);
    assert.deepEqual(bodiless.map((op) => `${op.method} ${op.path}`).sort(), [
      'DELETE /v1/sendgrid/event-relay',
      'DELETE /v1/suppressions/{email}',
      'DELETE /v1/webhook-endpoints/{id}',
      'POST /v1/messages/{id}/cancel',
      'POST /v1/messages/{id}/retry',
      'POST /v1/providers/{name}/probe',
      'POST /v1/recoveries/{id}/cancel',
    ]);
    const before = await rowCounts();
    for (const op of bodiless) {
      const path = fill(op.path);
      const what = (body: string, type: string) => `${op.method} ${path} ${type} ${body}`;
      const json = 'application/json';
      const fields = refused(
        await send(op.method, path, { body: '{"reason":"x","force":true}', type: json }),
        400,
        'invalid_request',
        what('{reason, force}', json),
      );
      assert.equal(fields.message, 'this request takes no body; send none, or {}');
      assert.deepEqual(fields.details, [
        { field: 'reason', message: 'is not a known field' },
        { field: 'force', message: 'is not a known field' },
      ]);
      for (const other of ['null', '[]', '5', '"x"', 'true', '[{}]']) {
        const error = refused(
          await send(op.method, path, { body: other, type: json }),
          400,
          'invalid_request',
          what(other, json),
        );
        assert.deepEqual(error.details, [
          { field: '(body)', message: 'must be empty or {}: this request takes no body' },
        ]);
      }
      refused(
        await send(op.method, path, { body: '{', type: json }),
        400,
        'malformed_json',
        what('{', json),
      );
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/xml',
        'application/merge-patch+json',
      ]) {
        refused(
          await send(op.method, path, { body: '{}', type }),
          415,
          'unsupported_media_type',
          what('{}', type),
        );
      }
      for (const type of ['application/json; charset=latin1', 'application/json; charset=utf-16']) {
        const error = refused(
          await send(op.method, path, { body: '{}', type }),
          415,
          'unsupported_media_type',
          what('{}', type),
        );
        assert.match(error.message, /UTF-8/);
      }
    }
    assert.deepEqual(await rowCounts(), before);
    assert.equal(await statusOf(scheduled), 'scheduled');
    const kept = await svc.request('GET', '/v1/suppressions?email=kept%40example.com');
    assert.equal(kept.body.data.length, 1, 'the suppression is still there');
    const still = await svc.request('GET', '/v1/webhook-endpoints');
    assert.ok(still.body.data.some((e: { id: string }) => e.id === endpoint));
  });

  test('"no body" is no body however a client sends it: nothing, empty with any type, or {}', async () => {
    for (const [what, init] of [
      ['no body, no type', {}],
      ['empty application/json', { body: '', type: 'application/json' }],
      [
        'empty application/json; charset=latin1',
        { body: '', type: 'application/json; charset=latin1' },
      ],
      ['empty text/plain (fetch with body "")', { body: '' }],
      ['empty form (curl -d "")', { body: '', type: 'application/x-www-form-urlencoded' }],
      ['empty application/xml', { body: '', type: 'application/xml' }],
      ['{}', { body: '{}', type: 'application/json' }],
      ['{} in UTF-8, said', { body: '{}', type: 'application/json; charset="UTF-8"' }],
    ] as const) {
      const id = await scheduleOne();
      const cancelled = await send('POST', `/v1/messages/${id}/cancel`, init);
      assert.equal(cancelled.status, 200, `cancel, ${what}: ${JSON.stringify(cancelled.body)}`);
      assert.equal(cancelled.body.status, 'cancelled');
      // Past the body check: the message's state decides (409), as without a body.
      const retried = await send('POST', `/v1/messages/${id}/retry`, init);
      refused(retried, 409, 'invalid_state', `retry, ${what}`);
      const recovery = await send('POST', `/v1/recoveries/rec_${FAKE}/cancel`, init);
      refused(recovery, 404, 'not_found', `recovery cancel, ${what}`);
      const deleted = await send('DELETE', `/v1/webhook-endpoints/whk_${FAKE}`, init);
      refused(deleted, 404, 'not_found', `endpoint delete, ${what}`);
    }
  });

  test('a route whose body is optional takes none as {}, and refuses null as every route does', async () => {
    const path = `/v1/webhook-endpoints/${endpoint}/redeliver`;
    const bare = await send('POST', path);
    assert.equal(bare.status, 200, JSON.stringify(bare.body));
    const empty = await send('POST', path, { body: '', type: 'application/json' });
    assert.equal(empty.status, 200, JSON.stringify(empty.body));
    const error = refused(
      await send('POST', path, { body: 'null', type: 'application/json' }),
      400,
      'invalid_request',
      `POST ${path} null`,
    );
    assert.equal(error.details?.[0]?.field, '(body)');
    const before = await rowCounts();
    refused(
      await send('POST', `/v1/webhook-endpoints/${endpoint}/rotate-secret`, {
        body: 'null',
        type: 'application/json',
      }),
      400,
      'invalid_request',
      'rotate-secret null',
    );
    assert.deepEqual(await rowCounts(), before);
  });

  test('JSON in another charset than UTF-8 is 415 on every /v1 route with a body; /v3 reads it as SendGrid does', async () => {
    const bodied = operations.filter((op) => op.body);
    assert.ok(bodied.length >= 10);
    const before = await rowCounts();
    for (const op of bodied) {
      const path = fill(op.path);
      for (const charset of ['latin1', 'ISO-8859-1', '"windows-1252"', 'utf-16', 'us-ascii']) {
        const error = refused(
          await send(op.method, path, {
            body: '{"name":"caf\u00e9"}',
            type: `application/json; charset=${charset}`,
          }),
          415,
          'unsupported_media_type',
          `${op.method} ${path} charset=${charset}`,
        );
        assert.match(error.message, /UTF-8/);
      }
    }
    assert.deepEqual(await rowCounts(), before);
    // UTF-8, however it is spelt, is read.
    for (const [i, type] of [
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json; charset="utf-8"',
      'application/json; charset=utf8',
      'Application/JSON',
    ].entries()) {
      const made = await send('POST', '/v1/units', { body: `{"name":"charset-${i}"}`, type });
      assert.equal(made.status, 201, `${type}: ${JSON.stringify(made.body)}`);
    }
    // /v3/mail/send answers as SendGrid does: any type is read as JSON.
    const sendgrid = await send('POST', '/v3/mail/send', {
      type: 'application/json; charset=latin1',
      body: JSON.stringify({
        personalizations: [{ to: [{ email: 'guest@example.com' }] }],
        from: { email: 'bookings@hotel.example' },
        subject: 'Booked',
        content: [{ type: 'text/plain', value: 'See you.' }],
      }),
    });
    assert.equal(sendgrid.status, 202, JSON.stringify(sendgrid.body));
  });

  test('the console, on the same server, answers a body it cannot read with a 4xx, not a 500', async () => {
    for (const [body, type, status] of [
      ['{', 'application/json', 400],
      ['{"email":"a@example.com"}', 'application/json; charset=latin1', 415],
      ['<x/>', 'application/xml', 415],
    ] as const) {
      const answer = await send('POST', '/console/sign-in', { body, type, key: null });
      assert.equal(answer.status, status, `${type} ${body}: ${answer.status}`);
    }
  });

  test('a path with an empty part (a trailing slash, //) is 404 on every route, with or without a key: never an empty id, nor a 405', async () => {
    const before = await rowCounts();
    let probed = 0;
    for (const op of operations) {
      const path = fill(op.path);
      // A trailing slash, and each path parameter left empty (`/v1/messages/`, `…//cancel`).
      const variants = [`${path}/`];
      if (op.path.includes('{')) variants.push(fill(op.path.replace(/\{[^}]+\}/, '')));
      for (const variant of variants) {
        for (const key of [undefined, null]) {
          const what = `${op.method} ${variant} ${key === null ? 'without a key' : ''}`;
          const error = refused(
            await send(op.method, variant, key === null ? { key } : {}),
            404,
            'not_found',
            what,
          );
          assert.ok(error.message.startsWith(`no route for ${op.method} ${variant}:`), what);
          probed++;
        }
      }
      // Named without the slash where that is a route.
      const slashed = refused(await send(op.method, `${path}/`), 404, 'not_found', path);
      assert.ok(
        slashed.message.endsWith(`(the route is ${op.method} ${path})`),
        `${op.method} ${path}/: ${slashed.message}`,
      );
    }
    assert.ok(probed > 100, `${probed} paths probed`);
    // Other methods on such a path: 404 as well, not a 405 naming the methods of an empty id.
    for (const [method, path] of [
      ['PUT', '/v1/messages/'],
      ['POST', '/v1/units/'],
      ['DELETE', '/v1/recoveries/'],
      ['GET', '/v1/unsent/'],
      ['GET', '/v1//messages'],
    ] as const) {
      const answer = await send(method, path);
      refused(answer, 404, 'not_found', `${method} ${path}`);
      assert.equal(answer.headers.get('allow'), null, `${method} ${path}`);
    }
    assert.deepEqual(await rowCounts(), before);
    assert.equal(await statusOf(scheduled), 'scheduled');
  });

  test('a method a path does not take (OPTIONS too): 405 with Allow; an unknown path stays 404', async () => {
    const byPath = new Map<string, Set<string>>();
    for (const op of operations) {
      const methods = byPath.get(op.path) ?? new Set<string>();
      methods.add(op.method);
      if (op.method === 'GET') methods.add('HEAD');
      byPath.set(op.path, methods);
    }
    const before = await rowCounts();
    for (const [template, methods] of byPath) {
      const path = fill(template);
      // Paths another route's parameter also matches are left out (GET /v1/messages/batch is the
      // message "batch").
      if (template === '/v1/messages/batch') continue;
      const routed = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
      const allow = routed.filter((m) => methods.has(m)).join(', ');
      for (const method of routed) {
        if (methods.has(method)) continue;
        const withBody = method !== 'GET' && method !== 'HEAD';
        const answer = await send(
          method,
          path,
          withBody ? { body: '{"x":1}', type: 'application/json' } : {},
        );
        assert.equal(answer.headers.get('allow'), allow, `${method} ${path}`);
        if (method === 'HEAD') {
          assert.equal(answer.status, 405, `HEAD ${path}`);
          continue;
        }
        const error = refused(answer, 405, 'method_not_allowed', `${method} ${path}`);
        assert.match(error.message, new RegExp(`not ${method}$`));
      }
      // OPTIONS learns the methods from Allow, without a key, and gets no 2xx without one.
      const options = await send('OPTIONS', path, { key: null });
      refused(options, 405, 'method_not_allowed', `OPTIONS ${path}`);
      assert.equal(options.headers.get('allow'), allow, `OPTIONS ${path}`);
    }
    assert.deepEqual(await rowCounts(), before);
    for (const path of ['/healthz', '/readyz', '/status', '/metrics', '/openapi.json']) {
      const answer = await send('POST', path, { key: null });
      refused(answer, 405, 'method_not_allowed', `POST ${path}`);
      assert.equal(answer.headers.get('allow'), 'GET, HEAD');
    }
    refused(await send('GET', '/v1/nothing-here'), 404, 'not_found', 'GET /v1/nothing-here');
    refused(
      await send('OPTIONS', '/v1/nothing-here'),
      404,
      'not_found',
      'OPTIONS /v1/nothing-here',
    );
    // /v3 keeps SendGrid's answer, in SendGrid's shape.
    const v3 = await send('GET', '/v3/mail/send');
    assert.equal(v3.status, 405);
    assert.ok(Array.isArray(v3.body.errors), JSON.stringify(v3.body));
  });
});
