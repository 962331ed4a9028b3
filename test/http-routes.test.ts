// tegami-test: no-database

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ProviderHealthReport } from '../src/domain/ports/provider-health-store.ts';
import { WORKER_GONE_AFTER_MS } from '../src/domain/provider-circuit.ts';
import { buildApp } from '../src/http/app.ts';
import { message } from './helpers.ts';
import { type FakeApi, type FakeApiKey, fakeApiDeps } from './support/fakes.ts';

/**
 * The HTTP API through `buildApp()` and `inject()`, on in-memory fakes of its ports
 * (test/support/fakes.ts): what the routes answer and what they hand to the ports, without a
 * database, a worker or a socket. The end-to-end behaviour is covered by the tests that start the
 * whole service (api-submission, hostile-requests, provider-view, ...).
 */

const SECRET = 'tgm_fake_route_test_key_0123456789abcdef';
const NOW = Date.parse('2030-01-02T03:04:05.000Z');

let fake: FakeApi;
let key: FakeApiKey;
let app: FastifyInstance;

before(async () => {
  fake = fakeApiDeps({ clock: () => NOW });
  key = fake.keys.add(SECRET, { name: 'shop' });
  app = await buildApp(fake.deps);
});
after(async () => {
  try {
    await app?.close();
  } catch (error) {
    // A 401 is answered before the body is read, so the app lingers on the request's socket
    // (src/http/linger.ts) and destroys it on close; inject()'s stand-in socket has no destroy().
    // Only an inject() quirk: real sockets have one, and nothing else is left to close here.
    if (!/socket\.destroy is not a function/.test(String(error))) throw error;
  }
});

const auth = { authorization: `Bearer ${SECRET}` };

/** The error shape every refusal has (docs/api-errors.md). */
function assertError(body: unknown, code: string): { message: string; details?: unknown[] } {
  const error = (body as { error?: Record<string, unknown> }).error;
  assert.ok(error, `an error body: ${JSON.stringify(body)}`);
  assert.equal(error.code, code, JSON.stringify(body));
  assert.equal(typeof error.message, 'string');
  for (const field of Object.keys(error)) {
    assert.ok(['code', 'message', 'details', 'details_omitted'].includes(field), field);
  }
  return error as { message: string; details?: unknown[] };
}

describe('routes on fake ports', () => {
  test('no API key, or an unknown one: 401, and the store is not asked', async () => {
    for (const headers of [{}, { authorization: 'Bearer tgm_unknown' }, { authorization: 'x' }]) {
      const answer = await app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers,
        payload: message(),
      });
      assert.equal(answer.statusCode, 401, JSON.stringify(headers));
      assertError(answer.json(), 'unauthorized');
    }
    assert.equal(fake.messages.submissions.length, 0);
  });

  test('a valid message: 202, handed to the store under the key and its unit', async () => {
    const before = fake.messages.submissions.length;
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: auth,
      payload: message({ subject: 'Room 12 is ready', categories: ['arrival'] }),
    });
    assert.equal(answer.statusCode, 202, answer.body);
    const body = answer.json() as { id: string; status: string };
    assert.match(body.id, /^msg_[0-9A-Z]{26}$/);
    assert.equal(body.status, 'queued');

    assert.equal(fake.messages.submissions.length, before + 1);
    const [stored] = fake.messages.submissions.at(-1)?.messages ?? [];
    assert.equal(stored?.id, body.id);
    assert.equal(stored?.apiKeyId, key.id);
    assert.equal(stored?.unitId, key.unitId);
    assert.equal(stored?.createdAt, NOW);
    assert.equal(stored?.content.subject, 'Room 12 is ready');
    assert.deepEqual(stored?.content.categories, ['arrival']);

    // And read back through the same store.
    const read = await app.inject({ method: 'GET', url: `/v1/messages/${body.id}`, headers: auth });
    assert.equal(read.statusCode, 200, read.body);
    const shown = read.json() as { id: string; status: string; subject: string };
    assert.deepEqual(
      { id: shown.id, status: shown.status, subject: shown.subject },
      { id: body.id, status: 'queued', subject: 'Room 12 is ready' },
    );
  });

  test('an unknown message: 404 not_found naming the id', async () => {
    const id = 'msg_01J0000000000000000000000Z';
    const answer = await app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: auth });
    assert.equal(answer.statusCode, 404);
    assert.ok(assertError(answer.json(), 'not_found').message.includes(id));
  });

  test('an invalid body: 400 invalid_request with a detail per field, nothing stored', async () => {
    const before = fake.messages.submissions.length;
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: auth,
      payload: { from: { email: 'not an address' }, to: [], subject: 7, surprise: true },
    });
    assert.equal(answer.statusCode, 400, answer.body);
    const error = assertError(answer.json(), 'invalid_request');
    assert.ok(Array.isArray(error.details) && error.details.length > 0, answer.body);
    for (const detail of error.details) {
      const d = detail as Record<string, unknown>;
      assert.deepEqual(Object.keys(d).sort(), ['field', 'message']);
      assert.equal(typeof d.field, 'string');
      assert.equal(typeof d.message, 'string');
    }
    assert.equal(fake.messages.submissions.length, before);

    const malformed = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"from":',
    });
    assert.equal(malformed.statusCode, 400);
    assertError(malformed.json(), 'malformed_json');
  });

  test('GET /v1/providers: the worst view of live workers per provider, counts summed', async () => {
    const report = (
      provider: string,
      reporter: string,
      updatedAt: number,
      snapshot: Partial<ProviderHealthReport['snapshot']>,
    ): ProviderHealthReport => ({
      provider,
      reporter,
      updatedAt,
      snapshot: {
        state: 'healthy',
        reason: null,
        since: NOW - 60_000,
        nextCheckAt: null,
        consecutiveFailures: 0,
        accepted: 0,
        failed: 0,
        providerFailed: 0,
        recentErrors: [],
        credentials: null,
        answeredAt: null,
        failedProbeSentAt: null,
        ...snapshot,
      },
    });
    fake.health.reports.length = 0;
    fake.health.reports.push(
      report('sandbox', 'worker-a', NOW - 500, { accepted: 10, failed: 1 }),
      report('sandbox', 'worker-b', NOW - 500, {
        state: 'throttled',
        reason: 'HTTP 429 from the provider',
        since: NOW - 5_000,
        nextCheckAt: NOW + 10_000,
        accepted: 5,
        failed: 2,
        recentErrors: [
          { errorClass: 'http_429', count: 2, lastAt: NOW - 1_000, lastDetail: 'slow down' },
        ],
      }),
      // A worker silent for longer than WORKER_GONE_AFTER_MS is gone: it is not shown.
      report('sendgrid', 'worker-gone', NOW - WORKER_GONE_AFTER_MS - 1, { state: 'paused' }),
    );

    const answer = await app.inject({ method: 'GET', url: '/v1/providers', headers: auth });
    assert.equal(answer.statusCode, 200, answer.body);
    const { providers } = answer.json() as { providers: Record<string, unknown>[] };
    assert.deepEqual(
      providers.map((p) => p.name),
      ['sandbox'],
    );
    const sandbox = providers[0] as Record<string, unknown>;
    assert.equal(sandbox.state, 'throttled');
    assert.equal(sandbox.reason, 'HTTP 429 from the provider');
    assert.equal(sandbox.since, new Date(NOW - 5_000).toISOString());
    assert.equal(sandbox.next_check_at, new Date(NOW + 10_000).toISOString());
    assert.equal(sandbox.accepted, 15);
    assert.equal(sandbox.failed, 3);
    assert.deepEqual(sandbox.recent_errors, [
      {
        error_class: 'http_429',
        count: 2,
        last_at: new Date(NOW - 1_000).toISOString(),
        last_detail: 'slow down',
      },
    ]);
    assert.deepEqual(
      (sandbox.workers as { worker: string; state: string; stale: boolean }[]).map((w) => [
        w.worker,
        w.state,
        w.stale,
      ]),
      [
        ['worker-a', 'healthy', false],
        ['worker-b', 'throttled', false],
      ],
    );

    // With no live report at all, the configured provider is still listed, as unknown.
    fake.health.reports.length = 0;
    const empty = await app.inject({ method: 'GET', url: '/v1/providers', headers: auth });
    const [only] = (empty.json() as { providers: Record<string, unknown>[] }).providers;
    assert.equal(only?.name, 'sandbox');
    assert.equal(only?.state, 'unknown');
    assert.equal(only?.reason, 'no worker is running');
  });

  test('a query parameter a /v1 route does not take: 400 invalid_request naming it, nothing done', async () => {
    const id = 'msg_01J0000000000000000000000Z';
    const before = fake.messages.submissions.length;
    const probes: [string, string, unknown?][] = [
      ['GET', `/v1/messages/${id}?stauts=failed`],
      ['POST', `/v1/messages/${id}/cancel?force=true`],
      ['POST', '/v1/messages?stauts=failed', message()],
      ['GET', '/v1/units?stauts=failed'],
      ['GET', '/v1/providers?stauts=failed'],
      ['GET', '/v1/recoveries/rec_01J0000000000000000000000Z?stauts=failed'],
    ];
    for (const [method, url, payload] of probes) {
      const answer = await app.inject({
        method: method as 'GET' | 'POST',
        url,
        headers: auth,
        ...(payload ? { payload: payload as object } : {}),
      });
      assert.equal(answer.statusCode, 400, `${method} ${url}: ${answer.body}`);
      const error = assertError(answer.json(), 'invalid_request');
      const name = new URL(url, 'http://tegami').searchParams.keys().next().value;
      assert.deepEqual(
        error.details,
        [{ field: `querystring.${name}`, message: 'is not a known field' }],
        `${method} ${url}`,
      );
    }
    assert.equal(fake.messages.submissions.length, before, 'nothing stored');

    // The key is still checked first; routes that take parameters still take them; the routes
    // outside /v1 (health, the OpenAPI document) are left as they were.
    const noKey = await app.inject({ method: 'GET', url: '/v1/units?stauts=failed' });
    assert.equal(noKey.statusCode, 401);
    const listed = await app.inject({
      method: 'GET',
      url: '/v1/messages?status=failed',
      headers: auth,
    });
    assert.equal(listed.statusCode, 200, listed.body);
    for (const url of ['/healthz?probe=1', '/openapi.json?v=2']) {
      const answer = await app.inject({ method: 'GET', url });
      assert.equal(answer.statusCode, 200, `${url}: ${answer.body}`);
    }
  });
});
