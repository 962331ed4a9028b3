import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { classifyScopesAnswer } from '../src/providers/sendgrid/check-credentials.ts';
import {
  message,
  request,
  runTegami,
  type Spawned,
  spawnTegami,
  startTestService,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';

/**
 * A misconfigured provider shows at start, not when mail piles up: the SendGrid key is checked
 * against `GET /v3/scopes` of the real simulator process, a refused key pauses the provider at
 * once with the reason, and held mail says why it waits. `tegami check` finds the same problems.
 */

const GOOD_KEY = 'SG.the-right-key';
const BAD_KEY = 'SG.a-key-nobody-has';

describe('SendGrid credentials (the simulator as a real process)', () => {
  let simulator: Spawned;
  let simUrl = '';
  const control = (method: string, path: string, body?: unknown) =>
    request(simUrl, method, `/_simulator${path}`, body);

  before(async () => {
    simulator = spawnTegami(['simulator', '--port', '0', '--api-key', GOOD_KEY], {});
    simUrl = await simulator.ready;
  });
  after(async () => {
    simulator.child.kill('SIGTERM');
    await simulator.exited;
  });

  test('the simulator answers GET /v3/scopes as SendGrid does', async () => {
    const good = await request(simUrl, 'GET', '/v3/scopes', undefined, {}, GOOD_KEY);
    assert.equal(good.status, 200);
    assert.match(good.headers.get('content-type') ?? '', /^application\/json/);
    assert.ok(Array.isArray(good.body.scopes) && good.body.scopes.includes('mail.send'));
    for (const headers of [{ authorization: `Bearer ${BAD_KEY}` }, { authorization: '' }]) {
      const refused = await request(simUrl, 'GET', '/v3/scopes', undefined, headers);
      assert.equal(refused.status, 401);
      assert.deepEqual(refused.body, {
        errors: [{ field: null, message: 'authorization required' }],
      });
    }
    // Checking a key is not sending mail.
    assert.equal((await control('GET', '/stats')).body.requests, 0);
  });

  describe('Tegami started with a key SendGrid refuses', () => {
    let tegami: TestService;
    before(async () => {
      tegami = await startTestService({
        TEGAMI_PROVIDER: 'sendgrid',
        TEGAMI_SENDGRID_API_KEY: BAD_KEY,
        TEGAMI_SENDGRID_BASE_URL: simUrl,
        TEGAMI_PROVIDER_PAUSE_CHECK_MS: '500',
      });
    });
    after(async () => {
      await tegami.stop();
      await control('PUT', '/api-key', { apiKey: GOOD_KEY });
      await control('POST', '/reset');
    });

    test('is paused at once, with the reason, before any mail is tried', async () => {
      const provider = await waitFor(async () => {
        const r = await tegami.request('GET', '/v1/providers');
        return r.body.providers[0]?.state === 'paused' ? r.body.providers[0] : null;
      }, 'the provider paused by the credential check');
      assert.equal(provider.name, 'sendgrid');
      assert.match(
        provider.reason,
        /^SendGrid refused the API key \(HTTP 401: authorization required\)/,
      );
      assert.equal(provider.credentials.result, 'refused');
      assert.equal(provider.credentials.detail, provider.reason);
      assert.ok(Date.parse(provider.credentials.checked_at) > 0);
      assert.doesNotMatch(JSON.stringify(provider), new RegExp(BAD_KEY), 'the key is not shown');

      const ready = await request(tegami.url, 'GET', '/readyz', undefined, {}, '');
      assert.equal(ready.status, 200, 'accepted mail is kept: the API stays ready');
      assert.deepEqual(ready.body, {
        status: 'ready',
        provider: { name: 'sendgrid', state: 'paused', credentials: 'refused' },
        workers_provider_mismatch: null,
      });
      assert.equal((await control('GET', '/stats')).body.requests, 0, 'no mail was tried');
    });

    test("GET /v1/sandbox/messages: 404 saying it is the sandbox provider's, and which one runs", async () => {
      for (const path of ['/v1/sandbox/messages', '/v1/sandbox/messages?limit=5']) {
        const r = await tegami.request('GET', path);
        assert.equal(r.status, 404);
        assert.deepEqual(r.body.error, {
          code: 'not_found',
          message:
            '/v1/sandbox/messages exists only with TEGAMI_PROVIDER=sandbox; this process sends through sendgrid',
        });
      }
      const other = await tegami.request('GET', '/v1/sandbox/other');
      assert.equal(other.body.error.message, 'no route for GET /v1/sandbox/other');
    });

    test('held mail says why it waits; fixing the key sends it without anyone acting', async () => {
      const submitted = await tegami.request('POST', '/v1/messages', message());
      assert.equal(submitted.status, 202);
      const id = submitted.body.id as string;
      const held = await tegami.request('GET', `/v1/messages/${id}`);
      assert.equal(held.body.status, 'queued');
      assert.match(
        held.body.held_reason,
        /^provider sendgrid is paused since \S+: SendGrid refused the API key \(HTTP 401: authorization required\); check TEGAMI_SENDGRID_API_KEY; queued mail waits; next check at \S+$/,
      );
      // Listed with the same reason. The pause check (every 500 ms here) may hold the message for
      // a moment as it asks SendGrid again, so the list is asked until it shows it queued.
      const listed = await waitFor(async () => {
        const r = await tegami.request('GET', '/v1/messages?status=queued');
        return r.body.data.find((m: { id: string }) => m.id === id) ?? null;
      }, 'the held message in the list of queued mail');
      assert.equal(listed.held_reason, held.body.held_reason);

      // The operator fixes the key (here: SendGrid starts accepting the configured one).
      await control('PUT', '/api-key', { apiKey: BAD_KEY });
      const sent = await waitFor(
        async () => {
          const r = await tegami.request('GET', `/v1/messages/${id}`);
          return r.body.status === 'sent' ? r.body : null;
        },
        'the held message sent once the key works',
        30_000,
      );
      assert.equal(sent.held_reason, null);
      const provider = await waitFor(async () => {
        const r = await tegami.request('GET', '/v1/providers');
        const p = r.body.providers[0];
        return p?.state === 'healthy' && p.credentials?.result === 'valid' ? p : null;
      }, 'healthy, with credentials proven by the accepted send');
      assert.equal(provider.credentials.detail, 'the provider accepted mail');
    });
  });

  test('a key SendGrid accepts: credentials valid, provider healthy, mail sent', async () => {
    const tegami = await startTestService({
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: GOOD_KEY,
      TEGAMI_SENDGRID_BASE_URL: simUrl,
    });
    try {
      const provider = await waitFor(async () => {
        const r = await tegami.request('GET', '/v1/providers');
        return r.body.providers[0]?.credentials ? r.body.providers[0] : null;
      }, 'the credential check reported');
      assert.equal(provider.state, 'healthy');
      assert.deepEqual(
        { result: provider.credentials.result, detail: provider.credentials.detail },
        { result: 'valid', detail: 'the API key has the mail.send permission' },
      );
      const id = (await tegami.request('POST', '/v1/messages', message())).body.id;
      const sent = await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/messages/${id}`);
        return r.body.status === 'sent' ? r.body : null;
      }, 'message sent');
      assert.equal(sent.held_reason, null);
    } finally {
      await tegami.stop();
    }
  });

  describe('tegami check', () => {
    const db = tempDatabase();
    after(() => db.cleanup());
    const env = (key: string, baseUrl = simUrl) => ({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: key,
      TEGAMI_SENDGRID_BASE_URL: baseUrl,
    });

    test('a database without migrations fails the check, and is left as it was', async () => {
      const { code, output } = await runTegami(['check'], env(GOOD_KEY));
      assert.equal(code, 1, output);
      assert.match(output, /^ok {4}configuration: provider sendgrid, database /m);
      assert.match(output, /^FAIL {2}database: .*(no such file|\d+ migrations? not applied)/m);
      assert.match(
        output,
        /^ok {4}provider sendgrid: .*the API key has the mail\.send permission$/m,
      );
      // It only looked: a later check still finds nothing applied.
      assert.match((await runTegami(['check'], env(GOOD_KEY))).output, /^FAIL {2}database/m);
    });

    test('everything right: one ok line per check, exit 0', async () => {
      assert.equal((await runTegami(['migrate'], env(GOOD_KEY))).code, 0);
      const { code, output } = await runTegami(['check'], env(GOOD_KEY));
      assert.equal(code, 0, output);
      const lines = output.trim().split('\n');
      assert.equal(lines.length, 4, output);
      assert.ok(
        lines.every((line) => line.startsWith('ok ')),
        output,
      );
      assert.match(output, /^ok {4}database: .* opens; every migration is applied$/m);
      assert.match(output, /^ok {4}database permissions: /m);
    });

    test('a refused key, an unreachable SendGrid, a bad variable: FAIL lines, exit 1', async () => {
      const refused = await runTegami(['check'], env(BAD_KEY));
      assert.equal(refused.code, 1, refused.output);
      assert.match(
        refused.output,
        /^FAIL {2}provider sendgrid: \S+: SendGrid refused the API key \(HTTP 401: authorization required\)/m,
      );
      assert.doesNotMatch(refused.output, new RegExp(BAD_KEY), 'the key is never printed');

      const unreachable = await runTegami(['check'], env(GOOD_KEY, 'http://127.0.0.1:9'));
      assert.equal(unreachable.code, 1, unreachable.output);
      assert.match(
        unreachable.output,
        /^FAIL {2}provider sendgrid: http:\/\/127\.0\.0\.1:9: SendGrid could not be reached to check the API key \(ECONNREFUSED/m,
      );

      // The base URL with SendGrid's /v3 in it: every call went to /v3/v3/… and 404.
      for (const withV3 of [`${simUrl}/v3`, `${simUrl}/v3/`, `${simUrl}/v3/mail/send`]) {
        const v3 = await runTegami(['check'], env(GOOD_KEY, withV3));
        assert.equal(v3.code, 1, v3.output);
        assert.equal(
          v3.output.trim(),
          `FAIL  configuration: TEGAMI_SENDGRID_BASE_URL: "${withV3}" must not include /v3 (Tegami adds /v3/mail/send and /v3/scopes itself): use ${simUrl}`,
        );
      }

      const misconfigured = await runTegami(['check'], {
        ...env(GOOD_KEY),
        TEGAMI_HTTP_PORT: 'eighty',
      });
      assert.equal(misconfigured.code, 1, misconfigured.output);
      assert.equal(
        misconfigured.output.trim(),
        'FAIL  configuration: TEGAMI_HTTP_PORT: "eighty" is not a whole number',
      );
    });
  });
});

describe('reading SendGrid answers to GET /v3/scopes', () => {
  test('a key without mail.send is refused, naming the permission', () => {
    const check = classifyScopesAnswer(200, '{"scopes":["alerts.read","stats.read"]}');
    assert.equal(check.result, 'refused');
    assert.match(check.detail, /lacks the mail\.send permission/);
  });
  test('403 is refused with SendGrid words; 5xx, 404 and odd bodies are unverified', () => {
    const forbidden = classifyScopesAnswer(
      403,
      '{"errors":[{"message":"access forbidden","field":null}]}',
    );
    assert.deepEqual(forbidden, {
      result: 'refused',
      detail:
        'SendGrid refused the API key (HTTP 403: access forbidden); check TEGAMI_SENDGRID_API_KEY',
    });
    assert.equal(
      classifyScopesAnswer(503, '<html><title>503 Service Unavailable</title></html>').detail,
      'GET /v3/scopes answered HTTP 503: 503 Service Unavailable',
    );
    assert.equal(classifyScopesAnswer(404, '').result, 'unverified');
    assert.equal(classifyScopesAnswer(200, 'not json').result, 'unverified');
  });
});
