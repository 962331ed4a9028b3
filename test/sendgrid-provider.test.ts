import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProviderCircuit } from '../src/domain/provider-circuit.ts';
import { DEFAULT_RETRY_POLICY, decideAfterAttempt } from '../src/domain/retry-policy.ts';
import type { OutboundMessage, SendResult } from '../src/domain/types.ts';
import {
  classifyAnswer,
  classifyNetworkError,
} from '../src/providers/sendgrid/classify-response.ts';
import { TEGAMI_ID_ARG, toMailSendBody } from '../src/providers/sendgrid/mail-send-body.ts';
import { SendGridProvider } from '../src/providers/sendgrid/sendgrid-provider.ts';
import { message, startTestService, type TestService, waitFor } from './helpers.ts';
import { startCaptureServer } from './support/capture-server.ts';
import { officialMailSendValidator } from './support/sendgrid-spec.ts';

const validate = officialMailSendValidator();
const SG_KEY = 'SG.test-key.0123456789';

function outbound(overrides: Partial<OutboundMessage['content']> = {}): OutboundMessage {
  return {
    id: 'msg_01TEST',
    attempt: 1,
    content: {
      from: { email: 'bookings@hotel.example', name: 'Hotel' },
      to: [{ email: 'guest@example.com', name: 'Guest' }],
      cc: [],
      bcc: [],
      subject: 'Your booking is confirmed',
      text: 'See you soon.',
      headers: {},
      categories: [],
      metadata: {},
      attachments: [],
      ...overrides,
    },
  };
}

describe('SendGrid mail/send body', () => {
  test('a message using every field maps to a body valid under the official spec', () => {
    const body = toMailSendBody(
      outbound({
        to: [{ email: 'a@example.com', name: 'Ａさん' }, { email: 'b@example.com' }],
        cc: [{ email: 'c@example.com' }],
        bcc: [{ email: 'd@example.com', name: 'D' }],
        reply_to: { email: 'desk@hotel.example', name: 'Front desk' },
        subject: 'ご予約ありがとうございます 🎉',
        text: 'plain',
        html: '<p>html</p>',
        headers: { 'X-Booking': '12345' },
        categories: ['booking', 'confirmation'],
        metadata: { booking_id: '12345', [TEGAMI_ID_ARG]: 'spoofed' },
        attachments: [{ filename: 'a.txt', content: 'aGVsbG8=', content_type: 'text/plain' }],
      }),
    );
    assert.deepEqual(validate(body), []);
    assert.deepEqual(
      body.content.map((c) => c.type),
      ['text/plain', 'text/html'],
      'text/plain must come first',
    );
    assert.equal(
      body.personalizations[0]?.custom_args[TEGAMI_ID_ARG],
      'msg_01TEST',
      'metadata cannot shadow our id',
    );
    assert.equal(body.personalizations[0]?.custom_args.booking_id, '12345');
    assert.deepEqual(body.personalizations[0]?.cc, [{ email: 'c@example.com' }]);
    assert.equal(body.attachments?.[0]?.disposition, 'attachment');
  });

  test('the smallest message leaves out empty optional fields and is still valid', () => {
    const body = toMailSendBody(outbound({ text: undefined, html: '<b>hi</b>' }));
    assert.deepEqual(validate(body), []);
    assert.deepEqual(Object.keys(body.personalizations[0] ?? {}), ['to', 'custom_args']);
    assert.equal(body.categories, undefined);
    assert.equal(body.headers, undefined);
    assert.equal(body.attachments, undefined);
  });
});

describe('classifying SendGrid answers', () => {
  const now = 1_700_000_000_000;

  test('202 is accepted with the X-Message-Id', () => {
    const result = classifyAnswer(
      { status: 202, headers: { 'x-message-id': 'abcdefghijklmnopqrstuv' }, body: '' },
      now,
    );
    assert.equal(result.outcome, 'accepted');
    assert.equal(result.providerMessageId, 'abcdefghijklmnopqrstuv');
  });

  test('202 with an X-Message-Id too long to index: accepted, without the id', () => {
    const result = classifyAnswer(
      { status: 202, headers: { 'x-message-id': 'x'.repeat(3_000) }, body: '' },
      now,
    );
    assert.equal(result.outcome, 'accepted');
    assert.equal(result.providerMessageId, undefined);
  });

  test("400 is permanent and keeps SendGrid's errors, fields and help", () => {
    const body = JSON.stringify({
      errors: [
        {
          message: 'The from email does not contain a valid address.',
          field: 'from.email',
          help: 'http://h',
        },
        {
          message: 'Too many categories on this message, the maximum is 10',
          field: 'categories',
          help: null,
        },
      ],
    });
    const result = classifyAnswer({ status: 400, headers: {}, body }, now);
    assert.equal(result.outcome, 'permanent');
    assert.equal(result.providerFault, undefined);
    assert.equal(result.providerErrors?.length, 2);
    assert.equal(result.providerErrors?.[0]?.field, 'from.email');
    assert.match(
      result.detail ?? '',
      /from\.email: The from email does not contain a valid address/,
    );
    assert.equal(result.errorClass, 'http_400');
  });

  test('an HTML 413 or 502 page is kept as text', () => {
    const page = '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>';
    const bad = classifyAnswer(
      { status: 502, headers: { 'content-type': 'text/html' }, body: page },
      now,
    );
    assert.equal(bad.outcome, 'retryable');
    assert.equal(bad.providerFault, 'outage');
    assert.equal(bad.detail, 'HTTP 502: 502 Bad Gateway');
    assert.equal(bad.responseExcerpt, page);
    const big = classifyAnswer(
      { status: 413, headers: {}, body: '<html><title>413 Request Entity Too Large</title>' },
      now,
    );
    assert.equal(big.outcome, 'permanent');
    assert.match(big.detail ?? '', /413 Request Entity Too Large/);
  });

  test('429 slows the provider down for Retry-After, else until X-RateLimit-Reset', () => {
    const withRetryAfter = classifyAnswer(
      {
        status: 429,
        headers: { 'retry-after': '3', 'x-ratelimit-remaining': '0', 'x-ratelimit-limit': '600' },
        body: '',
      },
      now,
    );
    assert.equal(withRetryAfter.providerFault, 'rate_limited');
    assert.equal(withRetryAfter.retryAfterMs, 3000);
    assert.deepEqual(withRetryAfter.rateLimit, { limit: 600, remaining: 0 });
    const withReset = classifyAnswer(
      { status: 429, headers: { 'x-ratelimit-reset': String(now / 1000 + 5) }, body: '' },
      now,
    );
    assert.equal(withReset.retryAfterMs, 5000);
  });

  test('401 and 403 are account-level: the provider pauses, the message is not at fault', () => {
    for (const status of [401, 403]) {
      const result = classifyAnswer(
        {
          status,
          headers: {},
          body: '{"errors":[{"message":"authorization required","field":null}]}',
        },
        now,
      );
      assert.equal(result.providerFault, 'account');
      assert.equal(result.outcome, 'retryable');
    }
  });

  test('a timeout after sending is "unknown"; refused and reset connections are retryable', () => {
    assert.equal(classifyNetworkError('UND_ERR_HEADERS_TIMEOUT', 'x').outcome, 'unknown');
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT']) {
      const result = classifyNetworkError(code, 'x');
      assert.equal(result.outcome, 'retryable');
      assert.equal(result.providerFault, 'outage');
      assert.equal(result.networkError, code);
    }
  });

  test('provider-level failures never use up the retry budget', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 1 };
    const outage: SendResult = {
      outcome: 'retryable',
      providerFault: 'outage',
      errorClass: 'http_503',
    };
    const decision = decideAfterAttempt(policy, 1, outage, 0, () => 0.5);
    assert.equal(decision.kind, 'retry');
    assert.equal(decision.kind === 'retry' && decision.chargesBudget, false);
    const own: SendResult = { outcome: 'retryable', errorClass: 'provider_exception' };
    assert.equal(decideAfterAttempt(policy, 1, own, 0).kind, 'failed');
  });
});

describe('provider circuit', () => {
  const options = {
    failureThreshold: 3,
    probeIntervalMs: 1000,
    pauseCheckMs: 5000,
    defaultThrottleMs: 500,
  };
  const outage: SendResult = {
    outcome: 'retryable',
    providerFault: 'outage',
    errorClass: 'http_503',
  };
  const ok: SendResult = { outcome: 'accepted' };

  test('opens after the threshold, probes one at a time, closes on the first good answer', () => {
    const circuit = new ProviderCircuit(options, 0);
    assert.equal(circuit.record(outage, 1, false), null);
    assert.equal(circuit.record(outage, 2, false), null);
    assert.deepEqual(circuit.record(outage, 3, false), {
      from: 'healthy',
      to: 'unavailable',
      reason: 'http_503',
    });
    assert.deepEqual(circuit.gate(10), { kind: 'hold', untilMs: 1003 });
    assert.deepEqual(circuit.gate(1003), { kind: 'probe' });
    circuit.beginProbe(1003);
    assert.deepEqual(circuit.gate(1004), { kind: 'hold', untilMs: 2003 }, 'one probe per interval');
    assert.deepEqual(circuit.gate(2003), { kind: 'probe' }, 'a hung probe does not block the next');
    assert.equal(circuit.record(outage, 2100, true), null, 'a failed probe keeps it open');
    assert.deepEqual(circuit.gate(2200), { kind: 'hold', untilMs: 3100 });
    circuit.beginProbe(3100);
    assert.equal(circuit.record(ok, 3200, true)?.to, 'healthy');
    assert.deepEqual(circuit.gate(3201), { kind: 'send' });
    const snapshot = circuit.snapshot(3201);
    assert.equal(snapshot.recentErrors[0]?.errorClass, 'http_503');
    assert.equal(snapshot.recentErrors[0]?.count, 4);
  });

  test('a success in between resets the count: scattered errors do not open it', () => {
    const circuit = new ProviderCircuit(options, 0);
    for (let i = 0; i < 20; i++) {
      circuit.record(outage, i, false);
      circuit.record(outage, i, false);
      circuit.record(ok, i, false);
    }
    assert.equal(circuit.current, 'healthy');
  });

  test('401 pauses at once and checks every pauseCheckMs; 429 throttles for Retry-After', () => {
    const circuit = new ProviderCircuit(options, 0);
    const account: SendResult = {
      outcome: 'retryable',
      providerFault: 'account',
      errorClass: 'http_401',
    };
    assert.equal(circuit.record(account, 10, false)?.to, 'paused');
    assert.deepEqual(circuit.gate(11), { kind: 'hold', untilMs: 5010 });
    assert.equal(circuit.record(outage, 12, false), null, 'a straggler does not hide the pause');
    assert.equal(circuit.current, 'paused');

    const forbidden = new ProviderCircuit(options, 0);
    forbidden.record({ ...account, httpStatus: 403, errorClass: 'http_403' }, 10, false);
    assert.equal(
      forbidden.snapshot(13).credentials,
      null,
      'a 403 (sender not verified, a key without the scope) says nothing of the key itself',
    );

    const checked = new ProviderCircuit(options, 0);
    checked.recordCredentials({ result: 'valid', detail: 'scopes include mail.send' }, 1);
    const revoked: SendResult = {
      outcome: 'retryable',
      providerFault: 'account',
      httpStatus: 401,
      errorClass: 'http_401',
      detail: 'The provided authorization grant is invalid, expired, or revoked',
    };
    assert.equal(checked.record(revoked, 20, false)?.to, 'paused');
    const credentials = checked.snapshot(21).credentials;
    assert.equal(credentials?.result, 'refused', 'a key revoked since the check is shown so');
    assert.match(credentials?.detail ?? '', /revoked/);
    assert.equal(credentials?.checkedAt, 20);
    checked.beginProbe(5_100);
    checked.record({ outcome: 'accepted', httpStatus: 202 }, 5_200, true);
    assert.equal(checked.snapshot(5_201).credentials?.result, 'valid');

    const throttled = new ProviderCircuit(options, 0);
    const limited: SendResult = {
      outcome: 'retryable',
      providerFault: 'rate_limited',
      retryAfterMs: 2000,
    };
    assert.equal(throttled.record(limited, 100, false)?.to, 'throttled');
    assert.deepEqual(throttled.gate(200), { kind: 'hold', untilMs: 2100 });
    assert.deepEqual(throttled.gate(2100), { kind: 'probe' });
  });

  test('a probe answered with a 400 proves the provider is up', () => {
    const circuit = new ProviderCircuit({ ...options, failureThreshold: 1 }, 0);
    circuit.record(outage, 1, false);
    circuit.beginProbe(1001);
    const bad: SendResult = { outcome: 'permanent', httpStatus: 400, errorClass: 'http_400' };
    assert.equal(circuit.record(bad, 1500, true)?.to, 'healthy');
  });
});

describe('SendGrid provider over real HTTP', () => {
  let server: Awaited<ReturnType<typeof startCaptureServer>>;
  before(async () => {
    server = await startCaptureServer();
  });
  after(() => server.close());

  function provider(overrides: Partial<ConstructorParameters<typeof SendGridProvider>[0]> = {}) {
    return new SendGridProvider({
      apiKey: SG_KEY,
      baseUrl: server.url,
      connectTimeoutMs: 1000,
      timeoutMs: 1000,
      maxConcurrency: 4,
      maxRequestsPerSecond: 0,
      ...overrides,
    });
  }

  test('posts a valid body with the key and keeps the X-Message-Id', async () => {
    server.setAnswer((_req, res) => {
      res.writeHead(202, { 'x-message-id': 'Xy7DbN3uQfS5sZ1K2r8wVg' }).end();
    });
    const sendgrid = provider();
    const result = await sendgrid.send(outbound({ html: '<p>x</p>' }));
    await sendgrid.close();
    assert.equal(result.outcome, 'accepted');
    assert.equal(result.providerMessageId, 'Xy7DbN3uQfS5sZ1K2r8wVg');
    const request = server.captured.at(-1);
    assert.equal(request?.method, 'POST');
    assert.equal(request?.url, '/v3/mail/send');
    assert.equal(request?.headers.authorization, `Bearer ${SG_KEY}`);
    assert.equal(request?.headers['content-type'], 'application/json');
    assert.deepEqual(validate(JSON.parse(request?.body ?? '{}')), []);
  });

  test('a request that gets no answer in time is recorded as outcome unknown', async () => {
    server.setAnswer(() => {}); // never answers
    const sendgrid = provider({ timeoutMs: 300 });
    const result = await sendgrid.send(outbound());
    await sendgrid.close();
    assert.equal(result.outcome, 'unknown');
    assert.equal(result.providerFault, 'outage');
    assert.equal(result.networkError, 'UND_ERR_HEADERS_TIMEOUT');
  });

  test("an answer within the timeout is taken, whatever the phase of undici's coarse timers", async (t) => {
    // undici's headers timeout ticks every ~499 ms. Given 1488 ms, it fires 998 ms plus the time
    // to its next tick after the request went out; requests 32 ms apart take every phase, so some
    // would end before an answer that comes at 1150 ms. The timeout must not end them early.
    const TIMEOUT_MS = 1_488;
    const ANSWER_AFTER_MS = 1_150;
    server.setAnswer((request, res) => {
      const silent = request.body.includes('silent@example.com');
      if (silent) return; // never answers
      setTimeout(() => {
        res.writeHead(202, { 'x-message-id': 'a'.repeat(22) }).end();
      }, ANSWER_AFTER_MS);
    });
    const sendgrid = provider({ timeoutMs: TIMEOUT_MS, maxConcurrency: 32 });
    t.after(() => sendgrid.close());
    const timed = async (to: string) => {
      const started = Date.now();
      const result = await sendgrid.send(outbound({ to: [{ email: to }] }));
      return { result, took: Date.now() - started };
    };
    const answered: ReturnType<typeof timed>[] = [];
    const silent: ReturnType<typeof timed>[] = [];
    for (let i = 0; i < 16; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 32));
      answered.push(timed('guest@example.com'));
      silent.push(timed('silent@example.com'));
    }
    const results = await Promise.all(answered);
    const timedOut = await Promise.all(silent);
    t.diagnostic(`answered after ${results.map((r) => r.took).join(', ')} ms`);
    t.diagnostic(`silent ones ended after ${timedOut.map((r) => r.took).join(', ')} ms`);
    assert.deepEqual(
      results
        .filter((r) => r.result.outcome !== 'accepted')
        .map((r) => `${r.result.networkError} after ${r.took} ms`),
      [],
      'every answer came within the timeout',
    );
    for (const { result, took } of timedOut) {
      assert.equal(result.outcome, 'unknown');
      assert.equal(result.networkError, 'UND_ERR_HEADERS_TIMEOUT');
      assert.ok(took >= TIMEOUT_MS - 10, `ended after ${took} ms`);
    }
  });

  test('a request given up (a later probe succeeded) is outcome unknown, not lost', async () => {
    server.setAnswer(() => {}); // never answers
    const sendgrid = provider({ timeoutMs: 5000 });
    const abandon = new AbortController();
    setTimeout(() => abandon.abort(), 100);
    const started = Date.now();
    const result = await sendgrid.send(outbound(), abandon.signal);
    await sendgrid.close();
    const took = Date.now() - started;
    assert.ok(took < 4_000, `it stops waiting at once, not at the 5 s timeout (took ${took} ms)`);
    assert.equal(result.outcome, 'unknown');
    assert.equal(result.networkError, 'abandoned');
    assert.equal(result.providerFault, 'outage');
  });

  test('a reset connection and a refused one are retryable outages', async () => {
    server.setAnswer((_req, res) => {
      res.socket?.destroy();
    });
    const sendgrid = provider();
    const reset = await sendgrid.send(outbound());
    await sendgrid.close();
    assert.equal(reset.outcome, 'retryable');
    assert.equal(reset.providerFault, 'outage');
    assert.ok(reset.networkError, 'the network error code is recorded');

    const refused = provider({ baseUrl: 'http://127.0.0.1:1' });
    const result = await refused.send(outbound());
    await refused.close();
    assert.equal(result.networkError, 'ECONNREFUSED');
    assert.equal(result.outcome, 'retryable');
  });

  test('Max requests per second spaces requests out', async () => {
    server.setAnswer((_req, res) => {
      res.writeHead(202, { 'x-message-id': 'a'.repeat(22) }).end();
    });
    const sendgrid = provider({ maxRequestsPerSecond: 20 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 6 }, () => sendgrid.send(outbound())));
    await sendgrid.close();
    // 6 requests at 20/s: the last starts 5 × 50 ms after the first.
    assert.ok(Date.now() - started >= 240, `took ${Date.now() - started} ms`);
  });
});

describe('Tegami with TEGAMI_PROVIDER=sendgrid', () => {
  let server: Awaited<ReturnType<typeof startCaptureServer>>;
  let tegami: TestService;
  let accept = true;
  let status = 503;

  before(async () => {
    server = await startCaptureServer((_req, res, i) => {
      if (accept) {
        res.writeHead(202, { 'x-message-id': `id${String(i).padStart(20, '0')}` }).end();
      } else {
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(
            '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}',
          );
      }
    });
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: SG_KEY,
      TEGAMI_SENDGRID_BASE_URL: server.url,
      TEGAMI_SENDGRID_TIMEOUT_MS: '2000',
      TEGAMI_RETRY_MAX_ATTEMPTS: '1',
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '3',
      TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '200',
      TEGAMI_PROVIDER_PAUSE_CHECK_MS: '300',
    });
  });
  after(async () => {
    await tegami.stop();
    await server.close();
  });

  test('every message is sent as a spec-valid body; the attempt shows SendGrid status and id', async () => {
    const submitted = await tegami.request(
      'POST',
      '/v1/messages',
      message({
        cc: [{ email: 'cc@example.com' }],
        html: '<p>Hi</p>',
        categories: ['booking'],
        metadata: { booking_id: '42' },
        attachments: [{ filename: 'r.txt', content: 'aGk=', content_type: 'text/plain' }],
      }),
    );
    assert.equal(submitted.status, 202);
    const id = submitted.body.id as string;
    const sent = await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/messages/${id}`);
      return r.body.status === 'sent' ? r.body : null;
    }, 'message sent');
    const attempt = sent.attempts[0];
    assert.equal(attempt.provider, 'sendgrid');
    assert.equal(attempt.http_status, 202);
    assert.match(attempt.provider_message_id, /^id\d{20}$/);
    const body = JSON.parse(server.captured.at(-1)?.body ?? '{}');
    assert.deepEqual(validate(body), []);
    assert.equal(body.personalizations[0].custom_args.tegami_message_id, id);
    assert.equal(body.personalizations[0]?.custom_args.booking_id, '42');
  });

  test('a 401 pauses the provider: the queue waits, nothing is dead-lettered, it resumes itself', async () => {
    accept = false;
    status = 401;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await tegami.request('POST', '/v1/messages', message({ subject: `paused ${i}` }));
      ids.push(r.body.id);
    }
    const providers = await waitFor(async () => {
      const r = await tegami.request('GET', '/v1/providers');
      return r.body.providers[0]?.state === 'paused' ? r.body.providers[0] : null;
    }, 'provider paused');
    assert.equal(providers.name, 'sendgrid');
    assert.match(providers.reason, /http_401: The provided authorization grant is invalid/);
    assert.ok(providers.since);
    assert.equal(providers.recent_errors[0].error_class, 'http_401');
    // Several pause checks later, still nothing failed, even with TEGAMI_RETRY_MAX_ATTEMPTS=1.
    await new Promise((r) => setTimeout(r, 1000));
    for (const id of ids) {
      const r = await tegami.request('GET', `/v1/messages/${id}`);
      assert.notEqual(r.body.status, 'failed');
    }
    const requestsWhilePaused = server.captured.length;
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(
      server.captured.length - requestsWhilePaused <= 4,
      'while paused only one probe per check interval is sent',
    );

    accept = true; // the key was fixed
    for (const id of ids) {
      await waitFor(async () => {
        const r = await tegami.request('GET', `/v1/messages/${id}`);
        return r.body.status === 'sent' ? r.body : null;
      }, `message ${id} sent after the pause`);
    }
    const after = await tegami.request('GET', '/v1/providers');
    assert.equal(after.body.providers[0].state, 'healthy');
    const one = await tegami.request('GET', `/v1/messages/${ids[0]}`);
    const failedAttempt = one.body.attempts.find(
      (a: { http_status: number }) => a.http_status === 401,
    );
    assert.equal(failedAttempt.provider_fault, 'account');
    assert.equal(
      failedAttempt.provider_errors[0].message,
      'The provided authorization grant is invalid, expired, or revoked',
    );
  });

  test('a 400 dead-letters only that message, with SendGrid error text', async () => {
    server.setAnswer((_req, res) => {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(
          '{"errors":[{"message":"Invalid type. Expected: string, given: integer.","field":"custom_args.n","help":null}]}',
        );
    });
    const r = await tegami.request('POST', '/v1/messages', message({ subject: 'bad' }));
    const failed = await waitFor(async () => {
      const m = await tegami.request('GET', `/v1/messages/${r.body.id}`);
      return m.body.status === 'failed' ? m.body : null;
    }, 'message failed');
    assert.match(failed.last_error, /custom_args\.n: Invalid type/);
    assert.equal(failed.attempts[0].provider_errors[0].field, 'custom_args.n');
    const providers = await tegami.request('GET', '/v1/providers');
    assert.equal(providers.body.providers[0].state, 'healthy');
  });
});
