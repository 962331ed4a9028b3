import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiKey } from '../src/domain/api-keys.ts';
import { SqlApiKeyStore, SqlUnitStore } from '../src/store/index.ts';
import {
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
} from './helpers.ts';

/** A valid SendGrid v3 body with `n` personalizations (n messages). */
function mail(n = 1) {
  return {
    personalizations: Array.from({ length: n }, (_, i) => ({
      to: [{ email: `guest${i}@example.com` }],
    })),
    from: { email: 'bookings@hotel.example' },
    subject: 'Your booking',
    content: [{ type: 'text/plain', value: 'See you soon.' }],
  };
}

/**
 * The limit counts in clock-minute windows: a check that must see one window starts with more
 * than 15 s of its minute left (else it waits for the next minute).
 */
async function freshMinute(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 15_000) await sleep(left + 50);
}

/**
 * A unit's sending limit (`rate_limit_per_min`, `PUT /v1/units/{id}`): over it `/v1/messages`
 * and `/v1/messages/batch` answer 429 `rate_limited` with `Retry-After`, `/v3/mail/send`
 * SendGrid's 429 with `X-RateLimit-*`; nothing of a refused request is stored; other units and
 * the default unit are not counted against it.
 */
describe(`unit sending limits (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const keys: Record<string, string> = {};
  const unitIds: Record<string, string> = {};

  const stored = async (unit: string) =>
    Number(
      (
        await queryDatabase<{ n: number | string }>(
          tegami.databaseUrl,
          'SELECT COUNT(*) AS n FROM messages WHERE unit_id = ?',
          [unitIds[unit]],
        )
      )[0]?.n,
    );
  const submit = (unit: string, body: unknown, path = '/v1/messages') =>
    request(tegami.url, 'POST', path, body, {}, keys[unit]);
  const sendV3 = async (unit: string, body: unknown, key = keys[unit]) => {
    const r = await fetch(`${tegami.url}/v3/mail/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    return { status: r.status, text: await r.text(), headers: r.headers };
  };

  before(async () => {
    tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    const units = new SqlUnitStore(tegami.service.database);
    const apiKeys = new SqlApiKeyStore(tegami.service.database);
    for (const name of ['hotel', 'shop', 'news']) {
      assert.equal((await tegami.request('POST', '/v1/units', { name })).status, 201);
      unitIds[name] = (await units.findByName(name))?.id ?? '';
      keys[name] = (
        await createApiKey(apiKeys, `${name} app`, Date.now(), { unitId: unitIds[name] })
      ).key;
    }
    unitIds.default = (await units.findByName('default'))?.id ?? '';
  });
  after(async () => {
    await tegami.stop();
  });

  test('PUT sets, GET shows and null removes the limit; only an admin key, only whole numbers ≥ 1', async () => {
    assert.equal((await tegami.request('GET', '/v1/units/hotel')).body.rate_limit_per_min, null);
    // One line saying what the field takes, not Ajv's three (integer, null, anyOf).
    for (const bad of [0, -1, 2.5, '5', '600', 10_000_001, true, {}]) {
      const r = await tegami.request('PUT', '/v1/units/hotel', { rate_limit_per_min: bad });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.deepEqual(r.body.error.details, [
        {
          field: 'rate_limit_per_min',
          message: 'must be a whole number from 1 to 10,000,000, or null',
        },
      ]);
    }
    for (const bad of [5, '']) {
      const r = await tegami.request('PUT', '/v1/units/hotel', { slack_webhook_url: bad });
      assert.deepEqual(r.body.error.details, [
        { field: 'slack_webhook_url', message: 'must be text of 1 to 2,048 characters, or null' },
      ]);
    }
    const notObject = await tegami.request('PUT', '/v1/units/hotel', { alerts: 5 });
    assert.deepEqual(notObject.body.error.details, [
      { field: 'alerts', message: 'must be an object, or null' },
    ]);
    assert.equal((await tegami.request('GET', '/v1/units/hotel')).body.rate_limit_per_min, null);
    const byUnit = await request(
      tegami.url,
      'PUT',
      '/v1/units/hotel',
      { rate_limit_per_min: 1000 },
      {},
      keys.hotel,
    );
    assert.equal(byUnit.status, 403);
    const set = await tegami.request('PUT', '/v1/units/hotel', {
      rate_limit_per_min: 7,
      alerts: { muted: true },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.rate_limit_per_min, 7);
    const kept = await tegami.request('PUT', '/v1/units/hotel', { alerts: null });
    assert.equal(kept.body.rate_limit_per_min, 7, 'clearing the thresholds keeps the limit');
    assert.deepEqual(kept.body.alerts.thresholds, {});
    assert.equal((await tegami.request('GET', '/v1/units/hotel')).body.rate_limit_per_min, 7);
    const removed = await tegami.request('PUT', '/v1/units/hotel', { rate_limit_per_min: null });
    assert.equal(removed.body.rate_limit_per_min, null);
    const audit = await tegami.request('GET', '/v1/audit-events?action=unit.update');
    assert.ok(JSON.stringify(audit.body).includes('"rate_limit_per_min":7'));
  });

  test('/v1: 5 per minute pass, the 6th is 429 rate_limited with Retry-After and nothing stored', async () => {
    assert.equal(
      (await tegami.request('PUT', '/v1/units/hotel', { rate_limit_per_min: 5 })).status,
      200,
    );
    await freshMinute();
    for (let i = 0; i < 4; i++) {
      const ok = await submit('hotel', message({ subject: `one ${i}` }));
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
      assert.equal(ok.headers.get('x-ratelimit-limit'), '5');
      assert.equal(ok.headers.get('x-ratelimit-remaining'), String(4 - i));
    }
    // A batch of two would go over: refused whole, not the first one of it stored.
    const before = await stored('hotel');
    const batch = await submit(
      'hotel',
      { messages: [message(), message({ subject: 'second' })] },
      '/v1/messages/batch',
    );
    assert.equal(batch.status, 429, JSON.stringify(batch.body));
    assert.equal(batch.body.error.code, 'rate_limited');
    // What is left, not what the refused batch asked for: the one message left still fits.
    assert.equal(batch.headers.get('x-ratelimit-remaining'), '1');
    assert.equal(await stored('hotel'), before);
    assert.equal((await submit('hotel', message({ subject: 'fifth' }))).status, 202);
    assert.equal(await stored('hotel'), 5);

    const sixth = await submit('hotel', message({ subject: 'sixth' }));
    assert.equal(sixth.status, 429);
    assert.equal(sixth.body.error.code, 'rate_limited');
    const retryAfter = Number(sixth.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(sixth.headers.get('x-ratelimit-limit'), '5');
    assert.equal(sixth.headers.get('x-ratelimit-remaining'), '0');
    const reset = Number(sixth.headers.get('x-ratelimit-reset'));
    assert.equal(reset % 60, 0, 'the window ends on a whole minute');
    assert.ok(reset * 1000 > Date.now() && reset * 1000 <= Date.now() + 60_000);
    assert.equal(await stored('hotel'), 5, 'the refused message is not stored');

    // Another unit and the admin key's default unit are not counted against hotel's limit.
    const shop = await submit('shop', message());
    assert.equal(shop.status, 202);
    assert.equal(shop.headers.get('x-ratelimit-limit'), null, 'no limit, no headers');
    const admin = await tegami.request('POST', '/v1/messages/batch', {
      messages: Array.from({ length: 6 }, () => message()),
    });
    assert.equal(admin.status, 202);
    assert.equal(await stored('default'), 6);

    // Without the limit hotel sends again at once.
    await tegami.request('PUT', '/v1/units/hotel', { rate_limit_per_min: null });
    assert.equal((await submit('hotel', message())).status, 202);
    assert.equal(await stored('hotel'), 6);
  });

  test('an Idempotency-Key replay is not counted again', async () => {
    await tegami.request('PUT', '/v1/units/shop', { rate_limit_per_min: 1 });
    await freshMinute();
    const key = { 'idempotency-key': `limit-${Date.now()}` };
    const first = await request(tegami.url, 'POST', '/v1/messages', message(), key, keys.shop);
    assert.equal(first.status, 202);
    const replay = await request(tegami.url, 'POST', '/v1/messages', message(), key, keys.shop);
    assert.equal(replay.status, 202, 'the stored answer, not a 429');
    assert.equal(replay.body.id, first.body.id);
    const other = await submit('shop', message());
    assert.equal(other.status, 429, 'a new message is over the limit of 1');
    // A limit of 2 this minute: the first message took one place, the burst takes the other.
    await tegami.request('PUT', '/v1/units/shop', { rate_limit_per_min: 2 });
    // Retries sent while the first try is still being stored: its answer, not a 429.
    const burstKey = { 'idempotency-key': `limit-burst-${Date.now()}` };
    const burst = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(tegami.url, 'POST', '/v1/messages', message(), burstKey, keys.shop),
      ),
    );
    assert.deepEqual(
      burst.map((r) => r.status),
      burst.map(() => 202),
    );
    assert.equal(new Set(burst.map((r) => r.body.id)).size, 1, 'one message');
    assert.equal((await submit('shop', message())).status, 429, 'the burst took one place');
    await tegami.request('PUT', '/v1/units/shop', { rate_limit_per_min: null });
  });

  test("/v3/mail/send: each personalization counts; over the limit SendGrid's 429, its body and headers", async () => {
    await tegami.request('PUT', '/v1/units/news', { rate_limit_per_min: 5 });
    await freshMinute();
    const three = await sendV3('news', mail(3));
    assert.equal(three.status, 202, three.text);
    assert.equal(three.headers.get('x-ratelimit-limit'), '5');
    assert.equal(three.headers.get('x-ratelimit-remaining'), '2');
    const resetAt = Number(three.headers.get('x-ratelimit-reset'));
    assert.equal(resetAt % 60, 0);
    assert.equal(await stored('news'), 3);

    const over = await sendV3('news', mail(3));
    assert.equal(over.status, 429);
    assert.deepEqual(JSON.parse(over.text), {
      errors: [{ message: 'too many requests', field: null, help: null }],
    });
    assert.match(over.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(over.headers.get('x-ratelimit-limit'), '5');
    assert.equal(over.headers.get('x-ratelimit-remaining'), '2');
    assert.equal(Number(over.headers.get('x-ratelimit-reset')), resetAt);
    assert.equal(await stored('news'), 3, 'nothing of the refused request is stored');

    // A refused body and a sandbox-mode request carry the headers too, and count nothing.
    const invalid = await sendV3('news', { ...mail(1), from: { email: 'not an address' } });
    assert.equal(invalid.status, 400, invalid.text);
    assert.equal(invalid.headers.get('x-ratelimit-limit'), '5');
    assert.equal(invalid.headers.get('x-ratelimit-remaining'), '2');
    const sandbox = await sendV3('news', {
      ...mail(2),
      mail_settings: { sandbox_mode: { enable: true } },
    });
    assert.equal(sandbox.status, 200, sandbox.text);
    assert.equal(sandbox.headers.get('x-ratelimit-remaining'), '2');

    assert.equal((await sendV3('news', mail(2))).status, 202, 'what was left still fits');
    const full = await sendV3('news', mail(1));
    assert.equal(full.status, 429);
    assert.equal(full.headers.get('x-ratelimit-remaining'), '0');
    assert.equal(await stored('news'), 5);

    // The key is still checked first: a wrong key is 401, not 429.
    assert.equal((await sendV3('news', mail(1), 'tgm_not_a_key')).status, 401);
    // Another unit on /v3 is not limited.
    const shop = await sendV3('shop', mail(3));
    assert.equal(shop.status, 202);
    assert.equal(shop.headers.get('x-ratelimit-limit'), null);

    await tegami.request('PUT', '/v1/units/news', { rate_limit_per_min: null });
    assert.equal((await sendV3('news', mail(1))).status, 202);
    assert.equal(await stored('news'), 6);
  });
});

describe(`the default sending limit, TEGAMI_UNIT_RATE_LIMIT_PER_MIN (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_UNIT_RATE_LIMIT_PER_MIN: '2',
    });
  });
  after(async () => {
    await tegami.stop();
  });

  test("applies to units without their own limit; a unit's own limit replaces it", async () => {
    await freshMinute();
    assert.equal((await tegami.request('POST', '/v1/messages', message())).status, 202);
    assert.equal((await tegami.request('POST', '/v1/messages', message())).status, 202);
    const third = await tegami.request('POST', '/v1/messages', message());
    assert.equal(third.status, 429);
    assert.equal(third.headers.get('x-ratelimit-limit'), '2');
    const raised = await tegami.request('PUT', '/v1/units/default', { rate_limit_per_min: 3 });
    assert.equal(raised.status, 200, JSON.stringify(raised.body));
    assert.equal((await tegami.request('POST', '/v1/messages', message())).status, 202);
  });
});

describe(`/v3/mail/send with the sendgrid provider (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_UNIT_RATE_LIMIT_PER_MIN: '5',
      TEGAMI_PROVIDER: 'sendgrid',
      TEGAMI_SENDGRID_API_KEY: 'SG.unit-limits',
      // Nothing is sent (no worker); the request is stored as it would be forwarded.
      TEGAMI_SENDGRID_BASE_URL: 'http://127.0.0.1:9',
    });
  });
  after(async () => {
    await tegami.stop();
  });

  // The request is stored as one message that SendGrid sends once per personalization: it used
  // to count as one message, so a unit limited to 5 a minute could send 1,000 in one request.
  test('counts each personalization, though the request is stored as one message', async () => {
    await freshMinute();
    const send = (n: number) => request(tegami.url, 'POST', '/v3/mail/send', mail(n), {}, TEST_KEY);
    const three = await send(3);
    assert.equal(three.status, 202, JSON.stringify(three.body));
    assert.equal(three.headers.get('x-ratelimit-remaining'), '2');
    const over = await send(3);
    assert.equal(over.status, 429);
    assert.equal(over.headers.get('x-ratelimit-remaining'), '2');
    assert.equal((await send(2)).status, 202, 'what was left still fits');
    const count = await queryDatabase<{ n: number | string }>(
      tegami.databaseUrl,
      'SELECT COUNT(*) AS n FROM messages',
    );
    assert.equal(Number(count[0]?.n), 2, 'one message per request');
  });
});
