import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../src/domain/api-keys.ts';
import type { RunningSimulator } from '../src/simulator/index.ts';
import { SqlApiKeyStore, SqlUnitStore } from '../src/store/index.ts';
import {
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
  waitFor,
} from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/** A valid SendGrid v3 body, as an application would send it. */
function mail(overrides: Record<string, unknown> = {}) {
  return {
    personalizations: [{ to: [{ email: 'guest@example.com', name: 'Guest' }] }],
    from: { email: 'bookings@hotel.example', name: 'Hotel' },
    subject: 'Your booking',
    content: [{ type: 'text/plain', value: 'See you soon.' }],
    ...overrides,
  };
}

async function send(
  baseUrl: string,
  body: unknown,
  key: string | null = TEST_KEY,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${baseUrl}/v3/mail/send`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    json: text ? JSON.parse(text) : undefined,
    headers: response.headers,
  };
}

/** A request that declares a large body and sends only its first bytes: the answer comes first. */
function declareLarge(
  baseUrl: string,
  length: number,
  key: string | null,
): Promise<{ status: number; body: string }> {
  const url = new URL(`${baseUrl}/v3/mail/send`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(length),
          ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    req.write('{"personalizations":');
  });
}

describe(`POST /v3/mail/send with the sandbox provider (${TEST_ENGINE})`, () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(async () => {
    await svc.stop();
  });

  test('the key is checked before the body: 401 in SendGrid shape, never 400, 413 or 415', async () => {
    const none = await send(svc.url, mail(), null);
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, {
      errors: [{ message: 'authorization required', field: null, help: null }],
    });
    const wrong = await send(svc.url, 'not json at all', 'SG.wrong');
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, {
      errors: [
        {
          message: 'The provided authorization grant is invalid, expired, or revoked',
          field: null,
          help: null,
        },
      ],
    });
    const wrongType = await send(svc.url, mail(), 'nope', { 'content-type': 'text/xml' });
    assert.equal(wrongType.status, 401);
    const huge = await declareLarge(svc.url, 40 * 1024 * 1024, 'SG.wrong');
    assert.equal(huge.status, 401);
  });

  test('other SendGrid paths: 401 without a key, then 404 in SendGrid shape; other methods 405', async () => {
    const anonymous = await fetch(`${svc.url}/v3/templates`);
    assert.equal(anonymous.status, 401);
    const known = await fetch(`${svc.url}/v3/templates`, {
      headers: { authorization: `Bearer ${TEST_KEY}` },
    });
    assert.equal(known.status, 404);
    assert.deepEqual(await known.json(), {
      errors: [{ message: 'not found', field: null, help: null }],
    });
    const get = await fetch(`${svc.url}/v3/mail/send`, {
      headers: { authorization: `Bearer ${TEST_KEY}` },
    });
    assert.equal(get.status, 405);
    assert.deepEqual(await get.json(), {
      errors: [{ message: 'method not allowed', field: null, help: null }],
    });
  });

  test('over 30 MB: 413 before the body is read', async () => {
    const huge = await declareLarge(svc.url, 31 * 1024 * 1024, TEST_KEY);
    assert.equal(huge.status, 413);
    assert.deepEqual(JSON.parse(huge.body), {
      errors: [{ message: 'content too large', field: null, help: null }],
    });
  });

  test('202, an empty body and a 22-character X-Message-Id; the key may carry SG.', async () => {
    for (const key of [TEST_KEY, `SG.${TEST_KEY}`]) {
      const res = await send(svc.url, mail(), key);
      assert.equal(res.status, 202);
      assert.equal(res.text, '');
      assert.match(res.headers.get('x-message-id') ?? '', /^[A-Za-z0-9_-]{22}$/);
    }
  });

  test('malformed JSON and schema violations: 400 with errors[] of message, field, help', async () => {
    const malformed = await send(svc.url, '{"personalizations":');
    assert.equal(malformed.status, 400);
    assert.deepEqual(malformed.json, {
      errors: [{ message: 'Bad Request', field: null, help: null }],
    });
    const missing = await send(svc.url, mail({ personalizations: undefined, from: undefined }));
    assert.equal(missing.status, 400);
    const fields = missing.json.errors.map((e: { field: string }) => e.field).sort();
    assert.deepEqual(fields, ['from.email', 'personalizations']);
    for (const e of missing.json.errors) {
      assert.equal(typeof e.message, 'string');
      assert.match(e.help, /^http:\/\/sendgrid\.com\/docs\//);
    }
  });

  test('sandbox_mode: 200, nothing stored, nothing sent', async () => {
    const before = await svc.request('GET', '/v1/messages?count=true&limit=1');
    const res = await send(svc.url, mail({ mail_settings: { sandbox_mode: { enable: true } } }));
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.equal(res.headers.get('x-message-id'), null);
    const after = await svc.request('GET', '/v1/messages?count=true&limit=1');
    assert.equal(after.body.total, before.body.total);
  });

  test('three personalizations with substitutions: Tegami renders one message each, durable before the 202', async () => {
    const body = mail({
      subject: 'Booking {{ref}}',
      content: [
        { type: 'text/plain', value: 'Hello {{name}}, booking {{ref}}.' },
        { type: 'text/html', value: '<p>Hello {{name}}</p>' },
      ],
      custom_args: { campaign: 'spring' },
      categories: ['booking'],
      personalizations: ['Ann', 'Bob', 'Cy'].map((name, i) => ({
        to: [{ email: `${name.toLowerCase()}@example.com` }],
        ...(i === 1 ? { cc: [{ email: 'desk@hotel.example' }] } : {}),
        substitutions: { '{{name}}': name, '{{ref}}': `B-${i}` },
        custom_args: { guest: name },
      })),
    });
    const res = await send(svc.url, body);
    assert.equal(res.status, 202);
    const xMessageId = res.headers.get('x-message-id');
    // Durable before the answer: the messages are readable at once.
    const list = await svc.request('GET', '/v1/messages?limit=10&metadata=campaign%3Dspring');
    const ours = list.body.data.filter(
      (m: { sendgrid?: { x_message_id: string } }) => m.sendgrid?.x_message_id === xMessageId,
    );
    assert.equal(ours.length, 3);
    for (const m of ours) {
      const i = m.sendgrid.personalization;
      const name = ['Ann', 'Bob', 'Cy'][i];
      assert.equal(m.subject, `Booking B-${i}`);
      assert.equal(m.text, `Hello ${name}, booking B-${i}.`);
      assert.equal(m.html, `<p>Hello ${name}</p>`);
      assert.deepEqual(m.metadata, { campaign: 'spring', guest: name });
      assert.deepEqual(m.categories, ['booking']);
      assert.equal(m.sendgrid.forwarded, false);
    }
    const bob = ours.find(
      (m: { sendgrid: { personalization: number } }) => m.sendgrid.personalization === 1,
    );
    assert.deepEqual(
      bob.recipients.map((r: { email: string; type: string }) => [r.email, r.type]),
      [
        ['bob@example.com', 'to'],
        ['desk@hotel.example', 'cc'],
      ],
    );
    await waitFor(async () => {
      const r = await svc.request('GET', `/v1/messages/${bob.id}`);
      return r.body.status === 'sent' ? r.body : null;
    }, 'the rendered message to be sent');
    const outbox = await svc.request('GET', `/v1/sandbox/messages?message_id=${bob.id}`);
    assert.match(outbox.body.data[0].mime, /^Subject: Booking B-1\r$/m);
  });

  test('hostile bodies get a 4xx in SendGrid shape, never a 5xx', async () => {
    const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const valid = JSON.stringify(mail());
    const bodies = [
      'null',
      '[]',
      '"text"',
      '5',
      '{"__proto__":{"x":1}}',
      valid.replace(
        '"personalizations":[{',
        `"personalizations":[{"dynamic_template_data":${deep(100_000)},`,
      ),
      valid.replace(
        '"personalizations":[{',
        `"personalizations":[{"custom_args":${deep(100_000)},`,
      ),
      valid.replace('"subject"', `"headers":${deep(100_000)},"subject"`),
      valid.replace('"subject"', `"x_unknown":${deep(100_000)},"subject"`),
      valid.replace('"subject":"Your booking"', '"subject":"bad \\ud800"'),
    ];
    for (const body of bodies) {
      const res = await send(svc.url, body);
      assert.ok(res.status >= 400 && res.status < 500, `${body.slice(0, 60)}: ${res.status}`);
      assert.ok(Array.isArray(res.json.errors), body.slice(0, 60));
    }
    // NUL in the text: a body may hold any character (kept in JSON as the escape \u0000).
    const nul = await send(svc.url, valid.replace('"See you soon."', '"nul \\u0000 here"'));
    assert.equal(nul.status, 202, `NUL: ${nul.text}`);
  });

  test('JSON that parses but cannot be taken is a 400 naming the field, not a bare Bad Request', async () => {
    const valid = JSON.stringify(mail());
    const cases = [
      [
        valid.replace(
          '"personalizations":[{',
          '"personalizations":[{"substitutions":{"__proto__":"x"},',
        ),
        'personalizations.0.substitutions.__proto__',
        /the key "__proto__" is not allowed/,
      ],
      [
        valid.replace('"subject":"Your booking"', '"subject":"bad \\ud800"'),
        'subject',
        /lone UTF-16 surrogate/,
      ],
    ] as const;
    const stored = async () =>
      (await svc.request('GET', '/v1/messages?limit=1&count=true')).body.total;
    const before = await stored();
    for (const [body, field, why] of cases) {
      const res = await send(svc.url, body);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(
        res.json.errors.map((e: { field: string }) => e.field),
        [field],
        res.text,
      );
      assert.match(res.json.errors[0].message, why);
      assert.ok(res.json.errors[0].message.startsWith(`${field}: `), res.text);
    }
    // Malformed JSON keeps SendGrid's own words.
    const malformed = await send(svc.url, '{"personalizations":');
    assert.deepEqual(malformed.json, {
      errors: [{ message: 'Bad Request', field: null, help: null }],
    });
    assert.equal(await stored(), before, 'nothing stored');
  });

  test("a rendered refusal names the request's own field, once, where every personalization shares it", async () => {
    const twoGuests = [
      { to: [{ email: 'first@shared.example' }] },
      { to: [{ email: 'second@shared.example' }] },
    ];
    const shared = await send(
      svc.url,
      mail({
        personalizations: twoGuests,
        headers: { Date: 'Mon, 7 Dec 2026 10:00:00 +0900' },
        subject: 's'.repeat(999),
        reply_to_list: [{ email: 'desk@hotel.example', name: 'Desk\u0001' }],
      }),
    );
    assert.equal(shared.status, 400, shared.text);
    assert.deepEqual(
      shared.json.errors.map((e: { field: string }) => e.field).sort(),
      ['headers.Date', 'reply_to_list.0.name', 'subject'],
      shared.text,
    );
    assert.match(shared.json.errors[0].message, /^reply_to_list\.0\.name must not contain/);
    // What a personalization sets itself is named there, and only there.
    const own = await send(
      svc.url,
      mail({
        personalizations: [
          twoGuests[0],
          { ...twoGuests[1], headers: { Date: 'x' }, custom_args: { ['k'.repeat(257)]: 'v' } },
        ],
        custom_args: { booking: 'B-1' },
      }),
    );
    assert.equal(own.status, 400, own.text);
    assert.deepEqual(
      own.json.errors.map((e: { field: string }) => e.field),
      ['personalizations.1.headers.Date', 'personalizations.1.custom_args'],
      own.text,
    );
    const list = await svc.request('GET', '/v1/messages?recipient=%40shared.example');
    assert.equal(list.body.data.length, 0, 'nothing stored');
  });

  test('a field the spec does not name is refused as unknown, not as a feature only SendGrid has', async () => {
    const res = await send(
      svc.url,
      mail({
        subjet: 'Your booking',
        personalizations: [{ to: [{ email: 'typo@example.com' }], substitution: { x: 'y' } }],
        sections: { '%greeting%': 'Hello' },
      }),
    );
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(
      res.json.errors.map((e: { field: string }) => e.field),
      ['subjet', 'sections', 'personalizations.0.substitution'],
    );
    assert.match(
      res.json.errors[0].message,
      /^The field "subjet" is not in SendGrid's mail\/send spec/,
    );
    assert.match(res.json.errors[0].message, /Check its spelling/);
    assert.doesNotMatch(res.json.errors[0].message, /only SendGrid/);
    assert.match(res.json.errors[2].message, /^The field "substitution" is not in/);
    // sections are SendGrid's (legacy templates), though its spec does not describe them.
    assert.match(res.json.errors[1].message, /^Sections \(sections\): only SendGrid can render/);
  });

  test('send_at in the future: scheduled', async () => {
    const at = Math.floor(Date.now() / 1000) + 3600;
    const res = await send(svc.url, mail({ send_at: at, custom_args: { case: 'send_at' } }));
    assert.equal(res.status, 202);
    const list = await svc.request('GET', '/v1/messages?limit=1&metadata=case%3Dsend_at');
    assert.equal(list.body.data[0].status, 'scheduled');
    assert.equal(list.body.data[0].send_at, new Date(at * 1000).toISOString());
  });

  test('what only SendGrid can do is a 400 naming the feature, never dropped', async () => {
    const res = await send(
      svc.url,
      mail({
        content: undefined,
        template_id: 'd-0123456789abcdef0123456789abcdef',
        personalizations: [
          { to: [{ email: 'guest@example.com' }], dynamic_template_data: { name: 'Ann' } },
        ],
        tracking_settings: { click_tracking: { enable: true } },
      }),
    );
    assert.equal(res.status, 400);
    const fields = res.json.errors.map((e: { field: string }) => e.field);
    assert.deepEqual(fields, ['template_id', 'tracking_settings.click_tracking']);
    assert.match(
      res.json.errors[0].message,
      /^Templates \(template_id\): only SendGrid can render or apply this/,
    );
    assert.match(res.json.errors[0].message, /"sandbox" provider/);
    // In sandbox mode the same request is refused the same way: an application whose tests pass
    // in sandbox mode must not then fail for real.
    const sandboxed = await send(
      svc.url,
      mail({
        content: undefined,
        template_id: 'd-0123456789abcdef0123456789abcdef',
        personalizations: [{ to: [{ email: 'guest@example.com' }] }],
        mail_settings: { sandbox_mode: { enable: true } },
      }),
    );
    assert.equal(sandboxed.status, 400, sandboxed.text);
    assert.deepEqual(
      sandboxed.json.errors.map((e: { field: string }) => e.field),
      ['template_id'],
    );
  });
});

describe(`POST /v3/mail/send answers as SendGrid (the simulator) does (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let svc: TestService;
  let simulator: RunningSimulator;
  before(async () => {
    setup = await startWithSimulator('SG.parity', { TEGAMI_TEST_NO_WORKER: '1' });
    ({ simulator, tegami: svc } = setup);
  });
  after(() => setup?.stop());

  const at = Math.floor(Date.now() / 1000);
  const bad: Record<string, unknown> = {
    'no personalizations': mail({ personalizations: [] }),
    'no from': mail({ from: undefined }),
    'invalid from': mail({ from: { email: 'not an address' } }),
    'empty subject': mail({ subject: '' }),
    'no subject, no template': mail({ subject: undefined }),
    'no content': mail({ content: [] }),
    'html before plain': mail({
      content: [
        { type: 'text/html', value: '<p>x</p>' },
        { type: 'text/plain', value: 'x' },
      ],
    }),
    'duplicate recipient': mail({
      personalizations: [{ to: [{ email: 'a@example.com' }], cc: [{ email: 'A@example.com' }] }],
    }),
    'empty cc': mail({ personalizations: [{ to: [{ email: 'a@example.com' }], cc: [] }] }),
    'reserved header': mail({ headers: { 'Reply-To': 'x@example.com' } }),
    'non-string custom arg': mail({ custom_args: { n: 1 } }),
    'too many categories': mail({ categories: Array.from({ length: 11 }, (_, i) => `c${i}`) }),
    'non-ASCII category': mail({ categories: ['réservation'] }),
    'attachment not base64': mail({ attachments: [{ content: '***', filename: 'a.txt' }] }),
    'attachment without filename': mail({ attachments: [{ content: 'aGk=' }] }),
    'send_at not an integer': mail({ send_at: 'tomorrow' }),
    'send_at too far': mail({ send_at: at + 73 * 3600 }),
    'reply_to and reply_to_list': mail({
      reply_to: { email: 'a@example.com' },
      reply_to_list: [{ email: 'b@example.com' }],
    }),
    'wrong types': mail({ subject: 5, personalizations: [{ to: 'a@example.com' }] }),
    'invalid to address': mail({ personalizations: [{ to: [{ email: 'nobody' }] }] }),
    'substitutions over 10,000 bytes': mail({
      personalizations: [
        { to: [{ email: 'a@example.com' }], substitutions: { '{{x}}': 'v'.repeat(10_000) } },
      ],
    }),
  };

  for (const [name, body] of Object.entries(bad)) {
    test(`${name}: the same status and errors`, async () => {
      const tegami = await send(svc.url, body);
      const sendgrid = await send(simulator.url, body, 'SG.parity');
      assert.equal(tegami.status, 400);
      assert.equal(tegami.status, sendgrid.status);
      assert.deepEqual(tegami.json, sendgrid.json);
    });
  }

  test('NUL in what Tegami stores as text is refused on every engine; in the content it is forwarded', async () => {
    const nul = 'a\u0000b';
    for (const [body, field] of [
      [mail({ subject: nul }), 'subject'],
      [mail({ custom_args: { booking: nul } }), 'custom_args'],
      [
        mail({ personalizations: [{ to: [{ email: 'a@example.com', name: nul }] }] }),
        'personalizations.0.to.0.name',
      ],
    ] as const) {
      const r = await send(svc.url, body);
      assert.equal(r.status, 400, `${field}: ${r.text}`);
      assert.equal(r.json.errors[0].field, field, r.text);
      assert.match(r.json.errors[0].message, /NUL/);
    }
    const inContent = await send(
      svc.url,
      mail({ content: [{ type: 'text/plain', value: nul }], custom_args: { case: 'nul-text' } }),
    );
    assert.equal(inContent.status, 202, inContent.text);
    const stored = await svc.request('GET', '/v1/messages?metadata=case%3Dnul-text');
    assert.equal(stored.body.data.length, 1);
  });
});

describe(`/v3/mail/send and the event relay by unit (${TEST_ENGINE})`, () => {
  let svc: TestService;
  let hotelKey: string;
  let restaurantKey: string;
  before(async () => {
    svc = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    });
    for (const name of ['hotel', 'restaurant']) {
      assert.equal((await svc.request('POST', '/v1/units', { name })).status, 201);
    }
    const keys = new SqlApiKeyStore(svc.service.database);
    const units = new SqlUnitStore(svc.service.database);
    const unitId = async (name: string) => (await units.findByName(name))?.id ?? '';
    hotelKey = (await createApiKey(keys, 'hotel', Date.now(), { unitId: await unitId('hotel') }))
      .key;
    restaurantKey = (
      await createApiKey(keys, 'restaurant', Date.now(), { unitId: await unitId('restaurant') })
    ).key;
  });
  after(async () => {
    await svc.stop();
  });

  test("the key's unit owns the mail; another unit's key does not see it", async () => {
    const res = await send(svc.url, mail(), `SG.${hotelKey}`);
    assert.equal(res.status, 202);
    const hotel = await request(svc.url, 'GET', '/v1/messages?limit=5', undefined, {}, hotelKey);
    assert.equal(hotel.body.data.length, 1);
    assert.equal(hotel.body.data[0].unit, 'hotel');
    const restaurant = await request(
      svc.url,
      'GET',
      '/v1/messages?limit=5',
      undefined,
      {},
      restaurantKey,
    );
    assert.equal(restaurant.body.data.length, 0);
  });

  test('relays: each unit its own, with its own key pair; a unit key cannot name another unit', async () => {
    const put = (key: string, body: unknown) =>
      request(svc.url, 'PUT', '/v1/sendgrid/event-relay', body, {}, key);
    const hotel = await put(hotelKey, { url: 'http://127.0.0.1:9/hotel' });
    assert.equal(hotel.status, 201);
    assert.equal(hotel.body.unit, 'hotel');
    assert.deepEqual([hotel.body.pending, hotel.body.failed], [0, 0]);
    const other = await put(restaurantKey, { url: 'http://127.0.0.1:9/restaurant' });
    assert.notEqual(other.body.public_key, hotel.body.public_key);
    const sneaky = await put(restaurantKey, { url: 'http://127.0.0.1:9/x', unit: 'hotel' });
    assert.equal(sneaky.status, 400);
    assert.equal(sneaky.body.error.details[0].field, 'unit');
    // The admin key names a unit.
    const byAdmin = await svc.request('GET', '/v1/sendgrid/event-relay?unit=hotel');
    assert.equal(byAdmin.body.url, 'http://127.0.0.1:9/hotel');
    assert.equal((await svc.request('GET', '/v1/sendgrid/event-relay')).status, 404);
    const bad = await put(hotelKey, { url: 'ftp://example.com/x' });
    assert.equal(bad.status, 400);
    const removed = await request(
      svc.url,
      'DELETE',
      '/v1/sendgrid/event-relay',
      undefined,
      {},
      hotelKey,
    );
    assert.equal(removed.status, 204);
    const gone = await request(svc.url, 'GET', '/v1/sendgrid/event-relay', undefined, {}, hotelKey);
    assert.equal(gone.status, 404);
    const audit = await svc.request('GET', '/v1/audit-events?limit=10');
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    assert.ok(actions.includes('sendgrid_event_relay.put'));
    assert.ok(actions.includes('sendgrid_event_relay.delete'));
  });

  test('a relay set and removed at the same moment: each answer a 200, 201, 204 or 404, never a 5xx', async () => {
    // The relay a PUT answers with used to be read again after its write: a DELETE in between
    // made it missing, a 500 (PostgreSQL).
    const as = (method: string, body?: unknown) =>
      request(svc.url, method, '/v1/sendgrid/event-relay', body, {}, hotelKey);
    const url = 'http://127.0.0.1:9/hotel-race';
    for (let i = 0; i < 100; i++) {
      const answers = await Promise.all([as('PUT', { url }), as('DELETE'), as('PUT', { url })]);
      for (const answer of answers) {
        assert.ok(
          [200, 201, 204, 404].includes(answer.status),
          `${answer.status} ${JSON.stringify(answer.body)}`,
        );
        if (answer.status === 200 || answer.status === 201) assert.equal(answer.body.url, url);
        // Made by this PUT (after a removal): where it is read back.
        if (answer.status === 201) {
          assert.equal(answer.headers.get('location'), '/v1/sendgrid/event-relay?unit=hotel');
        }
      }
    }
  });

  test("a message whose text holds NUL does not break the event webhook; a relayed message's events are queued", async () => {
    const relay = await request(
      svc.url,
      'PUT',
      '/v1/sendgrid/event-relay',
      { url: 'http://127.0.0.1:9/restaurant-events' },
      {},
      restaurantKey,
    );
    assert.equal(relay.status, 200, JSON.stringify(relay.body));
    // Accepted: a body may hold any character. Stored as JSON, the NUL is the escape \u0000.
    const plain = await request(
      svc.url,
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'nul@example.com' }], text: 'a\u0000b' }),
      {},
      restaurantKey,
    );
    assert.equal(plain.status, 202, JSON.stringify(plain.body));
    const relayed = await send(
      svc.url,
      mail({ content: [{ type: 'text/plain', value: 'c\u0000d' }] }),
      restaurantKey,
    );
    assert.equal(relayed.status, 202, relayed.text);
    const list = await request(
      svc.url,
      'GET',
      '/v1/messages?limit=5',
      undefined,
      {},
      restaurantKey,
    );
    const viaSendGrid = list.body.data.find((m: { id: string }) => m.id !== plain.body.id);
    const now = Math.floor(Date.now() / 1000);
    const events = [
      { id: plain.body.id as string, email: 'nul@example.com', key: 'nul-plain' },
      { id: viaSendGrid.id as string, email: 'guest@example.com', key: 'nul-relayed' },
    ].map((e) => ({
      email: e.email,
      event: 'processed',
      timestamp: now,
      sg_event_id: e.key,
      tegami_message_id: e.id,
    }));
    const posted = await fetch(`${svc.url}/webhooks/sendgrid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    assert.equal(posted.status, 200, await posted.text());
    const queued = await queryDatabase<{ event_key: string; x_message_id: string }>(
      svc.databaseUrl,
      'select event_key, x_message_id from sendgrid_relay_events',
    );
    assert.deepEqual(
      queued.map((q) => [q.event_key, q.x_message_id]),
      [['sendgrid:nul-relayed', viaSendGrid.sendgrid.x_message_id]],
      'only the message that came through /v3/mail/send is relayed, under its X-Message-Id',
    );
  });
});
