import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { MAX_RENDERED_CHARACTERS } from '../src/domain/sendgrid-compat/render.ts';
import { indexSubjects } from '../src/store/index.ts';
import {
  queryDatabase,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
} from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * `POST /v3/mail/send` at the edges of what Tegami stores: a request that would render into more
 * mail than it takes, substitutions past SendGrid's limit, a send_at long past, and (forwarded to
 * SendGrid, so not checked by the native rules) addresses, custom_args keys and subjects longer
 * than PostgreSQL indexes. Each is a 4xx or a 202, never a 5xx, and a refusal stores nothing.
 */

function mail(overrides: Record<string, unknown> = {}) {
  return {
    personalizations: [{ to: [{ email: 'guest@example.com' }] }],
    from: { email: 'bookings@hotel.example' },
    subject: 'Your booking',
    content: [{ type: 'text/plain', value: 'See you soon.' }],
    ...overrides,
  };
}

async function send(baseUrl: string, body: unknown) {
  const response = await fetch(`${baseUrl}/v3/mail/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function messageCount(svc: TestService): Promise<number> {
  const [row] = await queryDatabase<{ n: number }>(
    svc.databaseUrl,
    'select count(*) as n from messages',
  );
  return Number(row?.n);
}

/** Random words of hex: text that does not compress. */
const hexWords = (count: number) =>
  Array.from({ length: count }, () => randomBytes(4).toString('hex')).join(' ');

describe(`POST /v3/mail/send, rendered (sandbox provider): limits (${TEST_ENGINE})`, () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(() => svc.stop());

  test('a send_at long past, even before any date, is mail sent at once, as SendGrid does', async () => {
    for (const sendAt of [-100_000_000_000_000, -62_198_755_200, 0]) {
      const res = await send(
        svc.url,
        mail({ send_at: sendAt, custom_args: { at: String(sendAt) } }),
      );
      assert.equal(res.status, 202, `${sendAt}: ${JSON.stringify(res.json)}`);
      const list = await svc.request('GET', `/v1/messages?metadata=at%3D${sendAt}`);
      assert.equal(list.body.data[0].status, 'queued');
      assert.equal(list.body.data[0].send_at, null);
    }
  });

  test('a substitution that would make the content larger than a request may render: 400, nothing stored', async () => {
    const before = await messageCount(svc);
    // 600 bytes of substitutions, within SendGrid's 10,000, make 1 MB of text 600 MB.
    const res = await send(
      svc.url,
      mail({
        content: [{ type: 'text/plain', value: 'k'.repeat(1_000_000) }],
        personalizations: [
          { to: [{ email: 'guest@example.com' }], substitutions: { k: 'v'.repeat(600) } },
        ],
      }),
    );
    assert.equal(res.status, 400);
    assert.equal(res.json.errors[0].field, 'personalizations');
    assert.match(res.json.errors[0].message, /more than 50 MiB of mail in all/);
    assert.equal(await messageCount(svc), before);
  });

  test('personalizations that together render into more than 50 MiB: 400, nothing stored', async () => {
    const before = await messageCount(svc);
    const text = 'x'.repeat(1024 * 1024);
    const count = Math.floor(MAX_RENDERED_CHARACTERS / text.length) + 1;
    const res = await send(
      svc.url,
      mail({
        content: [{ type: 'text/plain', value: text }],
        personalizations: Array.from({ length: count }, (_, i) => ({
          to: [{ email: `guest${i}@example.com` }],
        })),
      }),
    );
    assert.equal(res.status, 400, JSON.stringify(res.json).slice(0, 300));
    assert.equal(await messageCount(svc), before);
    // Half as many are taken.
    const half = await send(
      svc.url,
      mail({
        content: [{ type: 'text/plain', value: text }],
        personalizations: Array.from({ length: Math.floor(count / 2) }, (_, i) => ({
          to: [{ email: `guest${i}@example.com` }],
        })),
      }),
    );
    assert.equal(half.status, 202);
    assert.equal(await messageCount(svc), before + Math.floor(count / 2));
  });
});

describe(`POST /v3/mail/send, forwarded (sendgrid provider): limits (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let svc: TestService;
  before(async () => {
    setup = await startWithSimulator('SG.limits', { TEGAMI_TEST_NO_WORKER: '1' });
    ({ tegami: svc } = setup);
  });
  after(() => setup?.stop());

  test('a recipient over 254 characters or a custom_args key over 256: 400 naming it, nothing stored', async () => {
    const before = await messageCount(svc);
    const long = `${randomBytes(1_500).toString('hex')}@example.com`;
    const cases: [Record<string, unknown>, string][] = [
      [mail({ personalizations: [{ to: [{ email: long }] }] }), 'personalizations.0.to.0.email'],
      [
        mail({
          personalizations: [{ to: [{ email: 'guest@example.com' }], bcc: [{ email: long }] }],
        }),
        'personalizations.0.bcc.0.email',
      ],
      [mail({ custom_args: { [randomBytes(1_500).toString('hex')]: 'v' } }), 'custom_args'],
    ];
    for (const [body, field] of cases) {
      const res = await send(svc.url, body);
      assert.equal(res.status, 400, `${field}: ${JSON.stringify(res.json).slice(0, 300)}`);
      assert.ok(
        res.json.errors.some((e: { field: string }) => e.field === field),
        JSON.stringify(res.json),
      );
    }
    assert.equal(await messageCount(svc), before);
  });

  test('what is only forwarded, not indexed, is left to SendGrid: a long from, a long personalization custom_args key', async () => {
    const long = `${randomBytes(1_500).toString('hex')}@example.com`;
    const from = await send(svc.url, mail({ from: { email: long } }));
    assert.equal(from.status, 202, JSON.stringify(from.json));
    const args = await send(
      svc.url,
      mail({
        personalizations: [
          { to: [{ email: 'guest@example.com' }], custom_args: { ['k'.repeat(3_000)]: 'v' } },
        ],
      }),
    );
    assert.equal(args.status, 202, JSON.stringify(args.json));
  });

  test('a subject of megabytes is stored, and subject search still answers, before and after indexing', async () => {
    const first = hexWords(1);
    // ~1.1 MB of distinct words: more than a PostgreSQL tsvector holds.
    const subject = `${first} ${hexWords(130_000)}`;
    const res = await send(svc.url, mail({ subject }));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const search = async () => {
      const r = await svc.request('GET', `/v1/messages?subject=${first}&count=true`);
      assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
      return r.body.data.length;
    };
    assert.equal(await search(), 1, 'found before the index reached it');
    const handle = svc.service.database;
    while ((await indexSubjects(handle, Date.now() + 60_000)) > 0);
    assert.equal(await search(), 1, 'found in the index');
    const later = hexWords(1);
    const next = await send(svc.url, mail({ subject: later }));
    assert.equal(next.status, 202);
    const r = await svc.request('GET', `/v1/messages?subject=${later}`);
    assert.equal(r.body.data.length, 1, 'mail after it is found too');
  });
});
