// tegami-test: no-database

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import {
  parseErrorRateFlag,
  parseLatencyFlag,
  parseOutageFlag,
} from '../src/simulator/cli-args.ts';
import {
  BODY_LIMIT,
  type Decision,
  decide,
  type Faults,
  FaultsError,
  initialFaultState,
  type RunningSimulator,
  startSimulator,
  validateFaults,
} from '../src/simulator/index.ts';
import { runTegami, spawnTegami } from './helpers.ts';

/** A small seeded random source (mulberry32), so fault decisions are reproducible. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mail(overrides: Record<string, unknown> = {}) {
  return {
    personalizations: [{ to: [{ email: 'guest@example.com', name: 'Guest' }] }],
    from: { email: 'bookings@hotel.example', name: 'Hotel' },
    subject: 'Your booking is confirmed',
    content: [
      { type: 'text/plain', value: 'See you soon.' },
      { type: 'text/html', value: '<p>See you soon.</p>' },
    ],
    ...overrides,
  };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked by the assertions
  body: any;
}

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  if (signal) init.signal = signal;
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

function send(sim: RunningSimulator, body: unknown, key = 'SG.test-key', signal?: AbortSignal) {
  return call(sim.url, 'POST', '/v3/mail/send', body, { authorization: `Bearer ${key}` }, signal);
}

const control = (sim: RunningSimulator, method: string, path: string, body?: unknown) =>
  call(sim.url, method, `/_simulator${path}`, body);

describe('fault decisions', () => {
  const at = 1_000_000;

  test('no faults: every request passes at once', () => {
    const state = initialFaultState();
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(decide({}, state, at, seeded(1)), { kind: 'pass', delayMs: 0 });
    }
  });

  test('error, reset and hang rates follow the random source and repeat with its seed', () => {
    const faults: Faults = {
      errorRates: { '503': 0.2, '500': 0.1 },
      resetRate: 0.1,
      hangRate: 0.1,
    };
    const run = (seed: number) => {
      const random = seeded(seed);
      const state = initialFaultState();
      return Array.from({ length: 10_000 }, () => decide(faults, state, at, random));
    };
    const first = run(42);
    assert.deepEqual(run(42), first, 'same seed, same decisions');
    const share = (match: (d: Decision) => boolean) => first.filter(match).length / first.length;
    const near = (actual: number, expected: number, what: string) =>
      assert.ok(Math.abs(actual - expected) < 0.02, `${what}: ${actual} vs ${expected}`);
    near(
      share((d) => d.kind === 'error' && d.status === 503),
      0.2,
      '503',
    );
    near(
      share((d) => d.kind === 'error' && d.status === 500),
      0.1,
      '500',
    );
    near(
      share((d) => d.kind === 'reset'),
      0.1,
      'reset',
    );
    near(
      share((d) => d.kind === 'hang'),
      0.1,
      'hang',
    );
    near(
      share((d) => d.kind === 'pass'),
      0.5,
      'pass',
    );
  });

  test('an error rate of 1 fails every request; html only for 5xx and 413', () => {
    const state = initialFaultState();
    const random = seeded(7);
    const html = { htmlErrors: true };
    assert.deepEqual(decide({ ...html, errorRates: { '502': 1 } }, state, at, random), {
      kind: 'error',
      status: 502,
      html: true,
      delayMs: 0,
    });
    assert.deepEqual(decide({ ...html, errorRates: { '403': 1 } }, state, at, random), {
      kind: 'error',
      status: 403,
      html: false,
      delayMs: 0,
    });
    assert.deepEqual(
      decide({ errorRates: { '429': 1 }, retryAfterSeconds: 9 }, state, at, random),
      { kind: 'rate-limited', retryAfterSeconds: 9, delayMs: 0 },
    );
  });

  test('latency: fixed, or uniform within the range', () => {
    const state = initialFaultState();
    assert.deepEqual(decide({ latencyMs: 25 }, state, at, seeded(1)), {
      kind: 'pass',
      delayMs: 25,
    });
    const random = seeded(3);
    const delays = Array.from({ length: 1000 }, () => {
      const d = decide({ latencyMs: { min: 10, max: 20 } }, state, at, random);
      return d.kind === 'pass' ? d.delayMs : -1;
    });
    assert.ok(delays.every((d) => d >= 10 && d <= 20));
    assert.ok(Math.min(...delays) < 11 && Math.max(...delays) > 19);
  });

  test('an outage fails every request in its mode until it ends', () => {
    const random = seeded(5);
    const outage = (mode: string) => {
      const state = initialFaultState();
      state.outageEndsAt = at + 5_000;
      const faults: Faults = { outage: { mode, durationMs: 5_000 } };
      return {
        during: decide(faults, state, at, random),
        after: decide(faults, state, at + 5_000, random),
      };
    };
    for (const [mode, expected] of [
      ['503', { kind: 'error', status: 503, html: false, delayMs: 0 }],
      ['html-502', { kind: 'error', status: 502, html: true, delayMs: 0 }],
      ['reset', { kind: 'reset', delayMs: 0 }],
      ['hang', { kind: 'hang' }],
      ['429', { kind: 'rate-limited', retryAfterSeconds: 5, delayMs: 0 }],
    ] as const) {
      const { during, after } = outage(mode);
      assert.deepEqual(during, expected, mode);
      assert.deepEqual(after, { kind: 'pass', delayMs: 0 }, `${mode} after the outage`);
    }
  });

  test('token bucket: the rate per second, then 429 with Retry-After until tokens refill', () => {
    const faults: Faults = { rateLimitPerSecond: 2 };
    const state = initialFaultState();
    const random = seeded(1);
    assert.equal(decide(faults, state, at, random).kind, 'pass');
    assert.equal(decide(faults, state, at, random).kind, 'pass');
    assert.deepEqual(decide(faults, state, at, random), {
      kind: 'rate-limited',
      retryAfterSeconds: 1,
      delayMs: 0,
    });
    assert.equal(decide(faults, state, at + 499, random).kind, 'rate-limited');
    assert.equal(decide(faults, state, at + 1000, random).kind, 'pass');
  });

  test('validateFaults accepts good settings and rejects bad ones with a clear message', () => {
    const good: Faults = {
      latencyMs: { min: 1, max: 5 },
      errorRates: { '503': 0.5, '429': 0.1 },
      htmlErrors: true,
      resetRate: 0.1,
      hangRate: 0.1,
      rateLimitPerSecond: 100,
      retryAfterSeconds: 3,
      outage: { mode: 'html-502', durationMs: 1000 },
    };
    assert.deepEqual(validateFaults(good), good);
    const bad: [unknown, RegExp][] = [
      [[], /JSON object/],
      [{ latency: 5 }, /unknown field "latency"/],
      [{ latencyMs: -1 }, /latencyMs/],
      [{ latencyMs: { min: 5, max: 1 } }, /min must not be greater/],
      [{ errorRates: { '200': 0.5 } }, /not an HTTP error status/],
      [{ errorRates: { '503': 1.5 } }, /between 0 and 1/],
      [{ errorRates: { '503': 0.6 }, resetRate: 0.6 }, /add up to 1.2/],
      [{ rateLimitPerSecond: 0 }, /rateLimitPerSecond/],
      [{ retryAfterSeconds: 1.5 }, /retryAfterSeconds/],
      [{ outage: { mode: 'down', durationMs: 10 } }, /outage.mode/],
      [{ outage: { mode: '503', durationMs: 0 } }, /durationMs/],
      [{ htmlErrors: 'yes' }, /htmlErrors/],
    ];
    for (const [input, message] of bad) {
      assert.throws(
        () => validateFaults(input),
        (e: unknown) => {
          assert.ok(e instanceof FaultsError);
          assert.match(e.message, message);
          return true;
        },
      );
    }
  });

  test('command-line values', () => {
    assert.equal(parseLatencyFlag('50'), 50);
    assert.deepEqual(parseLatencyFlag('10-200'), { min: 10, max: 200 });
    assert.deepEqual(parseErrorRateFlag('503=0.25'), ['503', 0.25]);
    assert.deepEqual(parseOutageFlag('html-502:3000'), { mode: 'html-502', durationMs: 3000 });
    assert.throws(() => parseLatencyFlag('fast'), FaultsError);
    assert.throws(() => parseErrorRateFlag('503'), FaultsError);
    assert.throws(() => parseOutageFlag('503'), FaultsError);
  });
});

describe('POST /v3/mail/send', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startSimulator({ port: 0 });
  });
  after(() => sim.close());
  beforeEach(async () => {
    await control(sim, 'POST', '/reset');
  });

  test('a valid send: 202, empty body, a 22-character X-Message-Id, rate-limit headers', async () => {
    const answer = await send(sim, mail({ custom_args: { tegami_message_id: 'msg_1' } }));
    assert.equal(answer.status, 202, answer.text);
    assert.equal(answer.text, '');
    assert.match(answer.headers.get('x-message-id') ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.ok(Number(answer.headers.get('x-ratelimit-limit')) > 0);
    assert.ok(Number(answer.headers.get('x-ratelimit-remaining')) >= 0);
    const reset = Number(answer.headers.get('x-ratelimit-reset'));
    assert.ok(Math.abs(reset - Date.now() / 1000) < 5, 'reset is in epoch seconds');

    const listed = await control(sim, 'GET', '/messages');
    assert.equal(listed.body.total, 1);
    const [stored] = listed.body.messages;
    assert.equal(stored.x_message_id, answer.headers.get('x-message-id'));
    assert.equal(stored.body.custom_args.tegami_message_id, 'msg_1');
    assert.ok(Math.abs(stored.received_at - Date.now()) < 5000);
  });

  test("the spec's own example bodies are accepted", async () => {
    const spec = parse(
      readFileSync(new URL('../spec/sendgrid/tsg_mail_v3.yaml', import.meta.url), 'utf8'),
    );
    const examples =
      spec.components.requestBodies.PostMailSend.content['application/json'].examples;
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    for (const name of ['MailSendNoTemplate', 'MailSendDynamicTemplate']) {
      const body = { ...examples[name].value, send_at: inAnHour };
      const answer = await send(sim, body);
      assert.equal(answer.status, 202, `${name}: ${answer.text}`);
    }
  });

  const longMessages = {
    from: 'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
    personalizations:
      'The personalizations field is required and must have at least one personalization.',
    to: 'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
    subject:
      'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
    content:
      'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
    order:
      'Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent in your email: text/plain needs to be first, followed by text/html, followed by any other content.',
  };
  const { personalizations: _p, ...withoutPersonalizations } = mail();
  const { from: _f, ...withoutFrom } = mail();
  const { subject: _s, ...withoutSubject } = mail();
  const { content: _c, ...withoutContent } = mail();
  const nowS = Math.floor(Date.now() / 1000);
  const mistakes: [string, unknown, string, string][] = [
    [
      'no personalizations',
      withoutPersonalizations,
      'personalizations',
      longMessages.personalizations,
    ],
    [
      'empty personalizations',
      mail({ personalizations: [] }),
      'personalizations',
      longMessages.personalizations,
    ],
    [
      '1001 personalizations',
      mail({
        personalizations: Array.from({ length: 1001 }, (_, i) => ({
          to: [{ email: `r${i}@example.com` }],
        })),
      }),
      'personalizations',
      'The personalization block is limited to 1000 personalizations per API request. You have provided 1001 personalizations. Please consider splitting this into multiple requests and resending your request.',
    ],
    [
      'a personalization without to',
      mail({ personalizations: [{ cc: [{ email: 'c@example.com' }] }] }),
      'personalizations.0.to',
      longMessages.to,
    ],
    [
      'an empty to',
      mail({ personalizations: [{ to: [] }] }),
      'personalizations.0.to',
      longMessages.to,
    ],
    [
      'an empty cc',
      mail({ personalizations: [{ to: [{ email: 'g@example.com' }], cc: [] }] }),
      'personalizations.0.cc',
      'The cc array, when used, must at least have an email parameter with a valid email address and it may also contain a name parameter. e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
    ],
    [
      'the same address twice',
      mail({
        personalizations: [{ to: [{ email: 'g@example.com' }], bcc: [{ email: 'G@example.com' }] }],
      }),
      'personalizations.0',
      'Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [G@example.com] in the personalizations.0.bcc field.',
    ],
    [
      'more than 1000 recipients',
      mail({
        personalizations: [
          {
            to: Array.from({ length: 600 }, (_, i) => ({ email: `t${i}@example.com` })),
            bcc: Array.from({ length: 401 }, (_, i) => ({ email: `b${i}@example.com` })),
          },
        ],
      }),
      'personalizations',
      'There is a limit of 1000 total recipients (to + cc + bcc) per request.',
    ],
    ['no from', withoutFrom, 'from.email', longMessages.from],
    ['a from without email', mail({ from: { name: 'Hotel' } }), 'from.email', longMessages.from],
    [
      'an invalid from',
      mail({ from: { email: 'hotel' } }),
      'from.email',
      'The from email does not contain a valid address.',
    ],
    [
      'an invalid to address',
      mail({ personalizations: [{ to: [{ email: 'guest@' }] }] }),
      'personalizations.0.to.0.email',
      'Does not contain a valid address.',
    ],
    ['no subject', withoutSubject, 'subject', longMessages.subject],
    ['no content', withoutContent, 'content', longMessages.content],
    [
      'an empty content value',
      mail({ content: [{ type: 'text/plain', value: '' }] }),
      'content.0.value',
      'The content value must be a string at least one character in length.',
    ],
    [
      'html before plain text',
      mail({
        content: [
          { type: 'text/html', value: '<p>Hi</p>' },
          { type: 'text/plain', value: 'Hi' },
        ],
      }),
      'content',
      longMessages.order,
    ],
    [
      '11 categories',
      mail({ categories: Array.from({ length: 11 }, (_, i) => `c${i}`) }),
      'categories',
      'Too many categories on this message, the maximum is 10',
    ],
    [
      'a category of 256 characters',
      mail({ categories: ['x'.repeat(256)] }),
      'categories.0',
      `Each category must not be longer than 255 characters. ${'x'.repeat(256)} exceeds this limit.`,
    ],
    [
      'a reserved header',
      mail({ headers: { 'Reply-To': 'x@example.com' } }),
      'headers',
      'Header can not be one of the reserved keys.',
    ],
    [
      'a reserved header in a personalization',
      mail({
        personalizations: [
          { to: [{ email: 'g@example.com' }], headers: { 'DKIM-Signature': 'x' } },
        ],
      }),
      'personalizations.0.headers',
      'Header can not be one of the reserved keys.',
    ],
    [
      'a number in custom_args',
      mail({ custom_args: { booking: 42 } }),
      'custom_args',
      'All values of custom arguments object must be strings',
    ],
    [
      'an attachment that is not base64',
      mail({ attachments: [{ content: 'not base64!', filename: 'a.txt' }] }),
      'attachments.0.content',
      'The attachment content must be base64 encoded.',
    ],
    [
      'an attachment without filename',
      mail({ attachments: [{ content: 'aGVsbG8=' }] }),
      'attachments.0.filename',
      'filename is required.',
    ],
    [
      'reply_to and reply_to_list',
      mail({ reply_to: { email: 'r@example.com' }, reply_to_list: [{ email: 'q@example.com' }] }),
      'reply_to_list',
      'You may use either the reply_to object or the reply_to_list array, but not both, in a single request.',
    ],
    [
      'send_at more than 72 hours ahead',
      mail({ send_at: nowS + 73 * 3600 }),
      'send_at',
      'Scheduling more than 72 hours in advance is forbidden.',
    ],
    [
      'a wrong type',
      mail({ subject: 42 }),
      'subject',
      'Invalid type. Expected: string, given: integer.',
    ],
  ];
  for (const [what, body, field, message] of mistakes) {
    test(`400 for ${what}`, async () => {
      const answer = await send(sim, body);
      assert.equal(answer.status, 400);
      const match = answer.body.errors.find((e: { field: string }) => e.field === field);
      assert.ok(match, `no error for ${field} in ${answer.text.slice(0, 500)}`);
      assert.equal(match.message, message);
      assert.match(
        match.help,
        /^http:\/\/sendgrid\.com\/docs\/API_Reference\/Web_API_v3\/Mail\/errors\.html#/,
      );
    });
  }

  test('every problem is reported in one answer', async () => {
    const answer = await send(sim, { personalizations: [], content: [] });
    assert.equal(answer.status, 400);
    assert.deepEqual(
      answer.body.errors.map((e: { field: string }) => e.field),
      ['from.email', 'personalizations', 'subject', 'content'],
    );
  });

  test('a template makes subject and content optional', async () => {
    const { subject: _, content: __, ...body } = mail();
    const answer = await send(sim, { ...body, template_id: 'd-123' });
    assert.equal(answer.status, 202, answer.text);
  });

  test('a body that is not JSON: 400 Bad Request', async () => {
    const answer = await send(sim, '{"personalizations": [');
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.body, {
      errors: [{ message: 'Bad Request', field: null, help: null }],
    });
  });

  test('a body over 30 MB: 413', async () => {
    const answer = await send(sim, JSON.stringify({ x: 'a'.repeat(30 * 1024 * 1024) }));
    assert.equal(answer.status, 413);
    assert.equal(answer.body.errors[0].message, 'content too large');
  });

  test('authentication: a wrong key, no key, and a key changed at run time', async () => {
    const revoked = {
      errors: [
        {
          message: 'The provided authorization grant is invalid, expired, or revoked',
          field: null,
          help: null,
        },
      ],
    };
    const noKey = await call(sim.url, 'POST', '/v3/mail/send', mail());
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.errors[0].message, 'authorization required');

    assert.equal((await send(sim, mail(), 'anything')).status, 202, 'any key when none is set');
    const set = await control(sim, 'PUT', '/api-key', { apiKey: 'SG.right' });
    assert.equal(set.status, 200);
    const wrong = await send(sim, mail(), 'SG.wrong');
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, revoked);
    assert.equal((await send(sim, mail(), 'SG.right')).status, 202);
    assert.equal((await control(sim, 'PUT', '/api-key', { apiKey: null })).status, 200);
    assert.equal((await send(sim, mail(), 'SG.wrong')).status, 202);
    assert.equal((await control(sim, 'PUT', '/api-key', { apiKey: '' })).status, 400);
    assert.equal((await control(sim, 'PUT', '/api-key', 'nope')).status, 400);
  });

  test('an API key given at start', async () => {
    const keyed = await startSimulator({ port: 0, apiKey: 'SG.only' });
    try {
      assert.equal((await send(keyed, mail(), 'SG.other')).status, 401);
      assert.equal((await send(keyed, mail(), 'SG.only')).status, 202);
    } finally {
      await keyed.close();
    }
  });

  test('sandbox mode: 200, empty body, nothing recorded, no events', async () => {
    const answer = await send(sim, mail({ mail_settings: { sandbox_mode: { enable: true } } }));
    assert.equal(answer.status, 200);
    assert.equal(answer.text, '');
    assert.equal((await control(sim, 'GET', '/messages')).body.total, 0);
    const stats = (await control(sim, 'GET', '/stats')).body;
    assert.equal(stats.sandbox, 1);
    assert.equal(stats.accepted, 0);
    assert.equal((await control(sim, 'GET', '/events')).body.events.length, 0);
  });

  test('an invalid body in sandbox mode is still rejected', async () => {
    const answer = await send(
      sim,
      mail({ subject: '', mail_settings: { sandbox_mode: { enable: true } } }),
    );
    assert.equal(answer.status, 400);
  });

  test('unknown /v3 paths: 404; other methods on mail/send: 405', async () => {
    const missing = await call(sim.url, 'POST', '/v3/mail/sends', mail(), {
      authorization: 'Bearer k',
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errors[0].message, 'not found');
    const wrong = await call(sim.url, 'GET', '/v3/mail/send', undefined, {
      authorization: 'Bearer k',
    });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.body.errors[0].message, 'method not allowed');
  });

  test('stats count requests by status and repeated tegami_message_ids as duplicates', async () => {
    // Our provider puts the id on the personalization; the message level counts too.
    const onMessage = (id: string) => mail({ custom_args: { tegami_message_id: id } });
    const onPersonalization = (id: string) =>
      mail({
        personalizations: [
          { to: [{ email: 'g@example.com' }], custom_args: { tegami_message_id: id } },
        ],
      });
    for (const body of [
      onPersonalization('msg_a'),
      onMessage('msg_b'),
      onMessage('msg_a'),
      onPersonalization('msg_a'),
    ]) {
      assert.equal((await send(sim, body)).status, 202);
    }
    await send(sim, {});
    const stats = (await control(sim, 'GET', '/stats')).body;
    assert.deepEqual(stats, {
      requests: 5,
      by_status: { '202': 4, '400': 1 },
      resets: 0,
      hangs: 0,
      accepted: 4,
      sandbox: 0,
      duplicates: 2,
    });
  });
});

describe('faults over HTTP', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startSimulator({ port: 0 });
  });
  after(() => sim.close());
  beforeEach(async () => {
    await control(sim, 'POST', '/reset');
  });

  test('error rate 1.0 for 503: SendGrid-style JSON', async () => {
    await control(sim, 'PUT', '/faults', { errorRates: { '503': 1 } });
    const answer = await send(sim, mail());
    assert.equal(answer.status, 503);
    assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(answer.body, {
      errors: [{ message: 'service unavailable', field: null, help: null }],
    });
    assert.equal((await control(sim, 'GET', '/messages')).body.total, 0);
  });

  test('html errors: an nginx page for 502', async () => {
    await control(sim, 'PUT', '/faults', { errorRates: { '502': 1 }, htmlErrors: true });
    const answer = await send(sim, mail());
    assert.equal(answer.status, 502);
    assert.match(answer.headers.get('content-type') ?? '', /text\/html/);
    assert.match(answer.text, /<html>\r\n<head><title>502 Bad Gateway<\/title><\/head>/);
  });

  test('a 403 error rate or outage is the account’s: "access forbidden", no field', async () => {
    // A 403 naming the `from` field is a message's unverified sender (the unverifiedSenders
    // fault); a client pauses for any other 403, so a 403 fault must not name the field.
    const accountRefusal = { errors: [{ message: 'access forbidden', field: null, help: null }] };
    await control(sim, 'PUT', '/faults', { errorRates: { '403': 1 } });
    const rate = await send(sim, mail());
    assert.equal(rate.status, 403);
    assert.deepEqual(rate.body, accountRefusal);
    await control(sim, 'POST', '/reset');
    await control(sim, 'POST', '/outage', { mode: '403', durationMs: 10_000 });
    const outage = await send(sim, mail());
    assert.equal(outage.status, 403);
    assert.deepEqual(outage.body, accountRefusal);
    assert.equal((await control(sim, 'GET', '/messages')).body.total, 0);
  });

  test('a gzip body is held to 30 MB once unpacked: 413, and no more is unpacked', async () => {
    const gzipped = (body: Buffer) =>
      fetch(`${sim.url}/v3/mail/send`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer SG.test-key',
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        body: gzipSync(body),
      });
    const small = await gzipped(Buffer.from(JSON.stringify(mail())));
    assert.equal(small.status, 202, await small.text());

    // A valid mail just over the limit, and 200 MB of spaces: each a few hundred KB of gzip.
    const overLimit = Buffer.from(
      JSON.stringify(
        mail({ content: [{ type: 'text/plain', value: 'a'.repeat(BODY_LIMIT + 1) }] }),
      ),
    );
    for (const body of [overLimit, Buffer.alloc(200 * 1024 * 1024, 0x20)]) {
      const answer = await gzipped(body);
      assert.equal(answer.status, 413);
      assert.deepEqual(await answer.json(), {
        errors: [{ message: 'content too large', field: null, help: null }],
      });
    }
    assert.equal((await control(sim, 'GET', '/messages')).body.total, 1);
  });

  test('reset: the client sees a socket error and nothing is accepted', async () => {
    sim.faults.resetRate = 1;
    await assert.rejects(send(sim, mail()), (error: Error & { cause?: { code?: string } }) => {
      assert.match(String(error.cause?.code ?? error.message), /ECONNRESET|UND_ERR_SOCKET/);
      return true;
    });
    const stats = (await control(sim, 'GET', '/stats')).body;
    assert.equal(stats.resets, 1);
    assert.equal(stats.accepted, 0);
  });

  test('hang: no answer until the client gives up', async () => {
    sim.faults.hangRate = 1;
    await assert.rejects(send(sim, mail(), 'k', AbortSignal.timeout(200)), {
      name: 'TimeoutError',
    });
    assert.equal((await control(sim, 'GET', '/stats')).body.hangs, 1);
  });

  test('an outage ends by itself after durationMs', async () => {
    const started = await control(sim, 'POST', '/outage', { mode: '503', durationMs: 300 });
    assert.equal(started.status, 200);
    assert.deepEqual(started.body.outage, { mode: '503', durationMs: 300 });
    assert.equal((await send(sim, mail())).status, 503);
    assert.deepEqual((await control(sim, 'GET', '/faults')).body.outage, {
      mode: '503',
      durationMs: 300,
    });
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal((await send(sim, mail())).status, 202);
    assert.equal((await control(sim, 'GET', '/faults')).body.outage, undefined);
  });

  test('outage modes: html-502, reset, hang, 429; DELETE ends it', async () => {
    await control(sim, 'POST', '/outage', { mode: 'html-502', durationMs: 10_000 });
    const html = await send(sim, mail());
    assert.equal(html.status, 502);
    assert.match(html.text, /502 Bad Gateway/);

    await control(sim, 'POST', '/outage', { mode: 'reset', durationMs: 10_000 });
    await assert.rejects(send(sim, mail()));

    await control(sim, 'POST', '/outage', { mode: 'hang', durationMs: 10_000 });
    await assert.rejects(send(sim, mail(), 'k', AbortSignal.timeout(150)), {
      name: 'TimeoutError',
    });

    await control(sim, 'POST', '/outage', { mode: '429', durationMs: 10_000 });
    const limited = await send(sim, mail());
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 9);

    const ended = await control(sim, 'DELETE', '/outage');
    assert.deepEqual(ended.body, { ended: true });
    assert.equal((await send(sim, mail())).status, 202);
  });

  test('429 with Retry-After and X-RateLimit-Remaining 0', async () => {
    await control(sim, 'PUT', '/faults', { errorRates: { '429': 1 }, retryAfterSeconds: 7 });
    const answer = await send(sim, mail());
    assert.equal(answer.status, 429);
    assert.equal(answer.headers.get('retry-after'), '7');
    assert.equal(answer.headers.get('x-ratelimit-remaining'), '0');
    assert.deepEqual(answer.body, {
      errors: [{ message: 'too many requests', field: null, help: null }],
    });
  });

  test('token bucket: requests above the rate get 429', async () => {
    await control(sim, 'PUT', '/faults', { rateLimitPerSecond: 5 });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await send(sim, mail())).status);
    assert.deepEqual(statuses.slice(0, 5), [202, 202, 202, 202, 202]);
    assert.ok(statuses.slice(5).includes(429), statuses.join(','));
    const limited = await send(sim, mail());
    if (limited.status === 429) assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(limited.headers.get('x-ratelimit-limit'), '5');
  });

  test('latency is applied before answering', async () => {
    sim.faults.latencyMs = 120;
    const started = performance.now();
    assert.equal((await send(sim, mail())).status, 202);
    assert.ok(performance.now() - started >= 110);
  });
});

describe('control API', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startSimulator({ port: 0, faults: { latencyMs: 1 } });
  });
  after(() => sim.close());

  test('faults round trip, and bad faults are rejected with 400', async () => {
    assert.deepEqual((await control(sim, 'GET', '/faults')).body, { latencyMs: 1 });
    const faults = {
      latencyMs: { min: 0, max: 2 },
      errorRates: { '500': 0.01 },
      htmlErrors: false,
      rateLimitPerSecond: null,
      retryAfterSeconds: 2,
    };
    const put = await control(sim, 'PUT', '/faults', faults);
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, faults);
    assert.deepEqual((await control(sim, 'GET', '/faults')).body, faults);
    assert.deepEqual(sim.faults, faults, 'the live object is the same');

    const bad = await control(sim, 'PUT', '/faults', { errorRates: { '503': 2 } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /errorRates\.503 must be a number between 0 and 1/);
    assert.equal((await control(sim, 'PUT', '/faults', '{oops')).status, 400);
    assert.equal((await control(sim, 'POST', '/outage', { mode: 'x', durationMs: 1 })).status, 400);
    assert.deepEqual((await control(sim, 'GET', '/faults')).body, faults, 'unchanged');
  });

  test('messages are listed with limit and offset, oldest first', async () => {
    await control(sim, 'POST', '/reset');
    for (let i = 0; i < 5; i++) {
      await send(sim, mail({ subject: `n${i}` }));
    }
    const page = await control(sim, 'GET', '/messages?limit=2&offset=1');
    assert.equal(page.body.total, 5);
    assert.deepEqual(
      page.body.messages.map((m: { body: { subject: string } }) => m.body.subject),
      ['n1', 'n2'],
    );
    assert.equal((await control(sim, 'GET', '/messages?limit=-1')).status, 400);
  });

  test('events and the public key', async () => {
    await control(sim, 'POST', '/reset');
    const key = await control(sim, 'GET', '/public-key');
    assert.deepEqual(key.body, { public_key: sim.publicKeyBase64 });
    assert.ok(sim.publicKeyBase64.length > 80);
    await send(sim, mail());
    const events = (await control(sim, 'GET', '/events')).body;
    assert.ok(Array.isArray(events.events));
    assert.ok(Array.isArray(events.deliveries));
    assert.equal(typeof events.pending, 'number');
  });

  test('reset clears messages, stats and faults', async () => {
    await control(sim, 'PUT', '/faults', { latencyMs: 1 });
    await send(sim, mail());
    assert.equal((await control(sim, 'POST', '/reset')).status, 200);
    assert.equal((await control(sim, 'GET', '/messages')).body.total, 0);
    assert.equal((await control(sim, 'GET', '/stats')).body.requests, 0);
    assert.deepEqual((await control(sim, 'GET', '/faults')).body, {});
  });

  test('unknown control paths: 404', async () => {
    assert.equal((await control(sim, 'GET', '/nothing')).status, 404);
  });
});

describe('PATCH /_simulator/faults', () => {
  // A clock of the test's own, so an outage's end is an exact instant to step to.
  let now = Date.now();
  let sim: RunningSimulator;
  before(async () => {
    sim = await startSimulator({ port: 0, clock: () => now });
  });
  after(() => sim.close());
  beforeEach(async () => {
    now = Date.now();
    await control(sim, 'POST', '/reset');
  });

  const faultsNow = async () => (await control(sim, 'GET', '/faults')).body;

  test('a patch during an outage keeps it running to the end it had', async () => {
    const started = await control(sim, 'POST', '/outage', { mode: '503', durationMs: 60_000 });
    const endsAt = started.body.ends_at;
    assert.equal(endsAt, now + 60_000);

    now += 20_000;
    const patched = await control(sim, 'PATCH', '/faults', { rejectCategories: ['booking'] });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body, {
      outage: { mode: '503', durationMs: 60_000 },
      rejectCategories: ['booking'],
    });
    now += 20_000;
    await control(sim, 'PATCH', '/faults', { errorRates: { '500': 0.01 } });

    now = endsAt - 1;
    assert.equal((await send(sim, mail())).status, 503, 'the outage goes on');
    now = endsAt;
    assert.equal((await send(sim, mail())).status, 202, 'and ends when it was to end');
    assert.equal((await send(sim, mail({ categories: ['booking'] }))).status, 400);
    assert.deepEqual(await faultsNow(), {
      errorRates: { '500': 0.01 },
      rejectCategories: ['booking'],
    });
  });

  test('a 429 outage patched: its Retry-After still counts down to the same end', async () => {
    await control(sim, 'POST', '/outage', { mode: '429', durationMs: 30_000 });
    now += 10_000;
    await control(sim, 'PATCH', '/faults', { latencyMs: 0 });
    const limited = await send(sim, mail());
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '20');
  });

  test('PUT, unlike PATCH, replaces everything: the outage ends', async () => {
    await control(sim, 'POST', '/outage', { mode: '503', durationMs: 60_000 });
    await control(sim, 'PUT', '/faults', { rejectCategories: ['booking'] });
    assert.equal((await send(sim, mail())).status, 202);
    assert.deepEqual(await faultsNow(), { rejectCategories: ['booking'] });
  });

  test('an outage named in the patch starts now; null ends it', async () => {
    await control(sim, 'POST', '/outage', { mode: '503', durationMs: 60_000 });
    now += 50_000;
    const patched = await control(sim, 'PATCH', '/faults', {
      outage: { mode: '429', durationMs: 30_000 },
    });
    assert.equal(patched.status, 200, patched.text);
    const limited = await send(sim, mail());
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '30', 'it runs 30 s from the patch');

    const ended = await control(sim, 'PATCH', '/faults', { outage: null });
    assert.deepEqual(ended.body, {});
    assert.equal((await send(sim, mail())).status, 202);
  });

  test('an outage that ended before the patch is not started again', async () => {
    await control(sim, 'POST', '/outage', { mode: '503', durationMs: 1_000 });
    now += 2_000; // over, and no request has seen it end
    const patched = await control(sim, 'PATCH', '/faults', { latencyMs: 0 });
    assert.deepEqual(patched.body, { latencyMs: 0 });
    assert.equal((await send(sim, mail())).status, 202);
  });

  test('null removes a fault, errorRates merge status by status, the rest is kept', async () => {
    await control(sim, 'PUT', '/faults', {
      latencyMs: { min: 0, max: 2 },
      errorRates: { '503': 0.1, '429': 0.05 },
      rateLimitPerSecond: 100,
      rejectCategories: ['booking'],
    });
    const patched = await control(sim, 'PATCH', '/faults', {
      latencyMs: null,
      errorRates: { '429': null, '500': 0.01 },
      rateLimitPerSecond: null,
      rejectCategories: ['late'],
    });
    assert.equal(patched.status, 200, patched.text);
    const expected = { errorRates: { '503': 0.1, '500': 0.01 }, rejectCategories: ['late'] };
    assert.deepEqual(patched.body, expected);
    assert.deepEqual(await faultsNow(), expected);
    assert.deepEqual(sim.faults, expected, 'the live object is the same');

    await control(sim, 'PATCH', '/faults', { errorRates: null });
    assert.deepEqual(await faultsNow(), { rejectCategories: ['late'] });
    assert.equal((await control(sim, 'PATCH', '/faults', {})).status, 200, 'an empty patch');
    assert.deepEqual(await faultsNow(), { rejectCategories: ['late'] });
  });

  test('the token bucket is refilled only by a patch that names the rate', async () => {
    await control(sim, 'PUT', '/faults', { rateLimitPerSecond: 2 });
    assert.equal((await send(sim, mail())).status, 202);
    assert.equal((await send(sim, mail())).status, 202);
    await control(sim, 'PATCH', '/faults', { rejectCategories: ['booking'] });
    assert.equal((await send(sim, mail())).status, 429, 'no fresh burst');
    await control(sim, 'PATCH', '/faults', { rateLimitPerSecond: 2 });
    assert.equal((await send(sim, mail())).status, 202, 'the rate set again: a full bucket');
  });

  test('a bad patch is refused with 400 and a clear message, and changes nothing', async () => {
    await control(sim, 'POST', '/outage', { mode: '503', durationMs: 60_000 });
    await control(sim, 'PATCH', '/faults', { errorRates: { '503': 0.1 }, latencyMs: 1 });
    const before = await faultsNow();

    const refusals: [unknown, RegExp][] = [
      [{ errorRates: { '500': 0.95 } }, /add up to 1\.05; at most 1 is possible/],
      [{ errorRates: { '503': 2 } }, /errorRates\.503 must be a number between 0 and 1/],
      [{ errorRates: { '200': null } }, /"200" is not an HTTP error status/],
      [{ errorRates: 0.1 }, /errorRates must be an object like \{"503": 0\.1\}/],
      [{ latencyMs: { max: 5 } }, /latencyMs\.min must be a number of ms >= 0/],
      [{ outage: { durationMs: 120_000 } }, /outage is replaced whole and starts now/],
      [{ outage: { mode: 'x', durationMs: 1 } }, /outage\.mode must be one of/],
      [{ rejectCategories: 'booking' }, /rejectCategories must be a list/],
      [{ latencyMs: 0, bogus: 1 }, /unknown field "bogus"; known fields: latencyMs, /],
      [{ bogus: null }, /unknown field "bogus"/],
      [[{ latencyMs: 0 }], /send a JSON object of the faults to change/],
      [JSON.stringify('latencyMs'), /send a JSON object of the faults to change/],
      [JSON.stringify(5), /send a JSON object of the faults to change/],
      [JSON.stringify(null), /send a JSON object of the faults to change/],
      ['{oops', /the body must be JSON/],
    ];
    for (const [body, message] of refusals) {
      const refused = await control(sim, 'PATCH', '/faults', body);
      assert.equal(refused.status, 400, `${JSON.stringify(body)}: ${refused.text}`);
      assert.match(refused.body.error, message, JSON.stringify(body));
      assert.deepEqual(await faultsNow(), before, `${JSON.stringify(body)} changed nothing`);
    }
    const empty = await call(sim.url, 'PATCH', '/_simulator/faults');
    assert.equal(empty.status, 400, 'no body');
    assert.match(empty.body.error, /send a JSON object of the faults to change/);

    now += 59_999;
    assert.equal((await send(sim, mail())).status, 503, 'the outage still runs to its end');
    now += 1;
    assert.deepEqual(await faultsNow(), { errorRates: { '503': 0.1 }, latencyMs: 1 });
  });
});

describe('tegami simulator', () => {
  test('starts on --port 0, prints its URL and public key, and stops on SIGTERM with 0', async () => {
    const spawned = spawnTegami(
      ['simulator', '--port', '0', '--api-key', 'SG.cli', '--error-rate', '500=0'],
      {},
    );
    try {
      const url = await spawned.ready;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(spawned.output(), /Event Webhook public key: [A-Za-z0-9+/=]{80,}/);
      const answer = await call(url, 'POST', '/v3/mail/send', mail(), {
        authorization: 'Bearer SG.cli',
      });
      assert.equal(answer.status, 202, answer.text);
      spawned.child.kill('SIGTERM');
      assert.equal(await spawned.exited, 0);
    } finally {
      if (spawned.child.exitCode === null) spawned.child.kill('SIGKILL');
    }
  });

  test('a bad flag: a message and exit code 64 (EX_USAGE)', async () => {
    const unknown = await runTegami(['simulator', '--no-such-flag'], {});
    assert.equal(unknown.code, 64);
    assert.match(unknown.output, /no-such-flag/);
    const bad = await runTegami(['simulator', '--error-rate', '503=2'], {});
    assert.equal(bad.code, 64);
    assert.match(bad.output, /errorRates\.503 must be a number between 0 and 1/);
  });

  test('a signing key file that does not exist: one line naming the flag, exit 64', async () => {
    const path = join(tmpdir(), `tegami-no-such-key-${process.pid}.pem`);
    const r = await runTegami(['simulator', '--port', '0', '--event-signing-key-file', path], {});
    assert.equal(r.code, 64, r.output);
    assert.equal(
      r.output.split('\n')[0],
      `tegami simulator: --event-signing-key-file: no such file: ${path}`,
    );
    assert.doesNotMatch(r.output, /ENOENT|\n\s+at /, 'no raw Node error or stack trace');
    assert.doesNotMatch(r.output, /listening on/);
  });

  test('an empty --host is refused (it would listen on every interface), exit 64', async () => {
    const spawned = spawnTegami(['simulator', '--port', '0', '--host', ''], {});
    // Should it listen after all, stop it rather than wait for it.
    spawned.ready.then(
      () => spawned.child.kill('SIGTERM'),
      () => {},
    );
    const code = await spawned.exited;
    const output = spawned.output();
    assert.doesNotMatch(output, /listening on/);
    assert.equal(code, 64, output);
    assert.equal(
      output.split('\n')[0],
      'tegami simulator: --host: "" is not a host name or address',
    );
  });

  test('a port in use: one line naming --port, exit 69 (EX_UNAVAILABLE)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const r = await runTegami(['simulator', '--port', String(port)], {});
      assert.equal(r.code, 69, r.output);
      assert.equal(
        r.output,
        `tegami simulator: --port ${port}: address already in use on 127.0.0.1 (is another simulator running?)\n`,
      );
    } finally {
      blocker.close();
    }
  });
});
