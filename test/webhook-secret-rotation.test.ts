import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { startCaptureServer } from './support/capture-server.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';

const hmac = (secret: string, timestamp: string, body: string) =>
  `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The recipe receivers used before rotation (docs/configuration.md): the whole header, one entry. */
function verifySingle(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers['tegami-webhook-timestamp']);
  return same(String(headers['tegami-webhook-signature']), hmac(secret, timestamp, body));
}

/** The recipe docs/configuration.md gives now: any entry of `Tegami-Webhook-Signatures`. */
function verifyAny(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers['tegami-webhook-timestamp']);
  const expected = hmac(secret, timestamp, body);
  return String(headers['tegami-webhook-signatures'] ?? '')
    .split(',')
    .some((entry) => same(entry.trim(), expected));
}

describe(`rotating a status webhook endpoint's secret (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let hook: Awaited<ReturnType<typeof startCaptureServer>>;
  let hotelKey = '';
  let restaurantKey = '';
  const unitIds: Record<string, string> = {};
  let admin: ConsoleClient;

  /** Sends a message with `key` and waits for its message.sent post to the receiver's `path`. */
  async function deliveryOfNewMessage(path: string, key?: string) {
    const sent = await request(tegami.url, 'POST', '/v1/messages', message(), {}, key);
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    return waitFor(
      async () => hook.captured.find((r) => r.url === path && r.body.includes(sent.body.id)),
      `the message.sent post to ${path}`,
    );
  }

  async function storedSecrets(id: string) {
    const rows = await queryDatabase<{ secret: string; previous_secret: string | null }>(
      tegami.databaseUrl,
      'select secret, previous_secret, previous_secret_expires_at from webhook_endpoints where id = ?',
      [id],
    );
    return rows[0];
  }

  before(async () => {
    hook = await startCaptureServer((_req, res) => {
      res.writeHead(200).end('ok');
    });
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
    });
    const hotel = await createUnitWithKey(tegami, 'hotel');
    const restaurant = await createUnitWithKey(tegami, 'restaurant');
    unitIds.hotel = hotel.id;
    unitIds.restaurant = restaurant.id;
    hotelKey = hotel.key;
    restaurantKey = restaurant.key;
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });
  after(async () => {
    await tegami?.stop();
    await hook?.close();
  });

  test('with a window both secrets verify; with 0 only the new one; rotating again drops the oldest', async () => {
    const created = await request(tegami.url, 'POST', '/v1/webhook-endpoints', {
      url: `${hook.url}/window`,
      events: ['message.sent'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.previous_secret_expires_at, null);
    const { id } = created.body;
    const first = created.body.secret as string;

    const beforeRotation = await deliveryOfNewMessage('/window');
    assert.ok(
      verifySingle(first, beforeRotation.headers, beforeRotation.body),
      'the single header as before',
    );
    assert.equal(
      beforeRotation.headers['tegami-webhook-signatures'],
      beforeRotation.headers['tegami-webhook-signature'],
    );

    // A bare POST: the default window, 24 hours.
    const startedAt = Date.now();
    const rotated = await request(tegami.url, 'POST', `/v1/webhook-endpoints/${id}/rotate-secret`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const second = rotated.body.secret as string;
    assert.notEqual(second, first);
    assert.ok(second.length >= 40);
    assert.equal(rotated.body.id, id);
    assert.equal(rotated.body.url, created.body.url);
    const expires = Date.parse(rotated.body.previous_secret_expires_at);
    assert.ok(
      expires >= startedAt + 86_400_000 && expires <= Date.now() + 86_400_000,
      rotated.body.previous_secret_expires_at,
    );
    const listed = (await tegami.request('GET', '/v1/webhook-endpoints')).body.data.find(
      (e: { id: string }) => e.id === id,
    );
    assert.equal(listed.secret, undefined, 'the list never shows a secret');
    assert.equal(listed.previous_secret_expires_at, rotated.body.previous_secret_expires_at);

    const during = await deliveryOfNewMessage('/window');
    assert.ok(verifySingle(first, during.headers, during.body), 'an unchanged receiver verifies');
    assert.ok(verifyAny(first, during.headers, during.body), 'the old secret verifies');
    assert.ok(verifyAny(second, during.headers, during.body), 'the new secret verifies');
    assert.equal(verifyAny('some other secret', during.headers, during.body), false);
    assert.equal(String(during.headers['tegami-webhook-signatures']).split(',').length, 2);

    // Rotating within the window: the secret replaced now stays, the one before it stops.
    const third = await request(tegami.url, 'POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
      keep_previous_for_seconds: 3600,
    });
    assert.equal(third.status, 200, JSON.stringify(third.body));
    const again = await deliveryOfNewMessage('/window');
    assert.ok(verifyAny(third.body.secret, again.headers, again.body));
    assert.ok(verifyAny(second, again.headers, again.body));
    assert.ok(verifySingle(second, again.headers, again.body));
    assert.equal(verifyAny(first, again.headers, again.body), false, 'the oldest stopped');

    // A leak: the replaced secret stops at once.
    const leaked = await request(tegami.url, 'POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
      keep_previous_for_seconds: 0,
    });
    assert.equal(leaked.status, 200, JSON.stringify(leaked.body));
    assert.equal(leaked.body.previous_secret_expires_at, null);
    const fourth = leaked.body.secret as string;
    const afterLeak = await deliveryOfNewMessage('/window');
    assert.ok(verifyAny(fourth, afterLeak.headers, afterLeak.body));
    assert.ok(verifySingle(fourth, afterLeak.headers, afterLeak.body), 'the documented recipe');
    for (const old of [first, second, third.body.secret]) {
      assert.equal(verifyAny(old, afterLeak.headers, afterLeak.body), false);
      assert.equal(verifySingle(old, afterLeak.headers, afterLeak.body), false);
    }
    assert.deepEqual(await storedSecrets(id), {
      secret: fourth,
      previous_secret: null,
      previous_secret_expires_at: null,
    });

    const audit = await tegami.request(
      'GET',
      '/v1/audit-events?action=webhook_endpoint.rotate_secret',
    );
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    const mine = audit.body.data.filter((e: { target: string }) => e.target === id);
    assert.deepEqual(
      mine.map((e: { filter: unknown }) => e.filter),
      [
        { keep_previous_for_seconds: 0 },
        { keep_previous_for_seconds: 3600 },
        { keep_previous_for_seconds: 86_400 },
      ],
    );
    const everything = JSON.stringify(audit.body);
    for (const secret of [first, second, third.body.secret, fourth])
      assert.ok(!everything.includes(secret), 'no secret in the audit log');
    await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
  });

  test('the previous secret stops signing when its window ends', async () => {
    const created = await request(tegami.url, 'POST', '/v1/webhook-endpoints', {
      url: `${hook.url}/short`,
      events: ['message.sent'],
    });
    const { id } = created.body;
    const rotated = await request(tegami.url, 'POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
      keep_previous_for_seconds: 1,
    });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    await new Promise((r) => setTimeout(r, 1_100));
    const listed = (await tegami.request('GET', '/v1/webhook-endpoints')).body.data.find(
      (e: { id: string }) => e.id === id,
    );
    assert.equal(listed.previous_secret_expires_at, null, 'no longer in force');
    const got = await deliveryOfNewMessage('/short');
    assert.ok(verifySingle(rotated.body.secret, got.headers, got.body));
    assert.equal(verifyAny(created.body.secret, got.headers, got.body), false);
    assert.equal(got.headers['tegami-webhook-signatures'], got.headers['tegami-webhook-signature']);
    await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
  });

  test("a unit key rotates its own unit's endpoints only", async () => {
    const hotel = (method: string, path: string, body?: unknown) =>
      request(tegami.url, method, path, body, {}, hotelKey);
    const restaurant = (method: string, path: string, body?: unknown) =>
      request(tegami.url, method, path, body, {}, restaurantKey);
    const hotels = await hotel('POST', '/v1/webhook-endpoints', {
      url: `${hook.url}/hotel`,
      events: ['message.sent'],
    });
    assert.equal(hotels.status, 201, JSON.stringify(hotels.body));
    const everyUnit = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: `${hook.url}/every-unit`,
      events: ['message.failed'],
    });
    const storedHotel = await storedSecrets(hotels.body.id);
    const storedEvery = await storedSecrets(everyUnit.body.id);

    for (const [who, id] of [
      [restaurant, hotels.body.id],
      [hotel, everyUnit.body.id],
    ] as const) {
      const refused = await who('POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
        keep_previous_for_seconds: 0,
      });
      assert.equal(refused.status, 404, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'not_found');
    }
    assert.deepEqual(await storedSecrets(hotels.body.id), storedHotel);
    assert.deepEqual(await storedSecrets(everyUnit.body.id), storedEvery);
    const unchanged = await deliveryOfNewMessage('/hotel', hotelKey);
    assert.ok(verifySingle(hotels.body.secret, unchanged.headers, unchanged.body));

    const own = await hotel('POST', `/v1/webhook-endpoints/${hotels.body.id}/rotate-secret`, {});
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.unit, 'hotel');
    const audit = await tegami.request(
      'GET',
      `/v1/audit-events?action=webhook_endpoint.rotate_secret&unit=hotel`,
    );
    assert.ok(
      audit.body.data.some((e: { target: string }) => e.target === hotels.body.id),
      JSON.stringify(audit.body),
    );
    await tegami.request('DELETE', `/v1/webhook-endpoints/${hotels.body.id}`);
    await tegami.request('DELETE', `/v1/webhook-endpoints/${everyUnit.body.id}`);
  });

  test('bad input answers 400 or 404 and changes nothing', async () => {
    const created = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: `${hook.url}/bad`,
      events: ['message.sent'],
    });
    const { id } = created.body;
    const stored = await storedSecrets(id);
    const path = `/v1/webhook-endpoints/${id}/rotate-secret`;
    for (const body of [
      { keep_previous_for_seconds: -1 },
      { keep_previous_for_seconds: 604_801 },
      { keep_previous_for_seconds: 1.5 },
      { keep_previous_for_seconds: '3600' },
      { keep_previous_for_seconds: null },
      { keep_previous_for_seconds: 1e300 },
      { secret: 'my-own-secret-0123456789' },
      [],
      'not json',
      '{"keep_previous_for_seconds":',
    ]) {
      const r = await tegami.request('POST', path, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.ok(r.body.error?.code, JSON.stringify(r.body));
    }
    const outOfRange = await tegami.request('POST', path, { keep_previous_for_seconds: 604_801 });
    assert.equal(outOfRange.body.error.details?.[0]?.field, 'keep_previous_for_seconds');
    for (const unknown of ['whk_nope', 'x'.repeat(64), encodeURIComponent('whk_\u00e9')]) {
      const r = await tegami.request('POST', `/v1/webhook-endpoints/${unknown}/rotate-secret`);
      assert.equal(r.status, 404, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'not_found');
    }
    const tooLong = await tegami.request(
      'POST',
      `/v1/webhook-endpoints/${'x'.repeat(65)}/rotate-secret`,
    );
    assert.equal(tooLong.status, 400, JSON.stringify(tooLong.body));
    assert.deepEqual(await storedSecrets(id), stored, 'nothing changed');

    // A deleted endpoint cannot be rotated.
    await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
    const gone = await tegami.request('POST', path, {});
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
    assert.deepEqual(await storedSecrets(id), stored);
  });

  test('the console rotates a secret with CSRF and shows the new one once', async () => {
    const created = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: `${hook.url}/console`,
      events: ['message.sent'],
    });
    const { id } = created.body;
    const page = await admin.get('/console/webhooks');
    assert.match(page.text, new RegExp(`/console/webhooks/${id}/rotate-secret`));

    const forged = await admin.post(
      `/console/webhooks/${id}/rotate-secret`,
      { keep_previous_for_seconds: '3600' },
      { csrf: null },
    );
    assert.equal(forged.status, 403, forged.text);
    const bad = await admin.post(`/console/webhooks/${id}/rotate-secret`, {
      keep_previous_for_seconds: '604801',
    });
    assert.equal(bad.status, 400, bad.text);
    assert.equal((await storedSecrets(id))?.secret, created.body.secret, 'nothing changed');

    const rotated = await admin.post(`/console/webhooks/${id}/rotate-secret`, {
      keep_previous_for_seconds: '3600',
    });
    assert.equal(rotated.status, 200, rotated.text);
    const secret = /data-new-secret>([\w-]{40,})</.exec(rotated.text)?.[1];
    assert.ok(secret, rotated.text);
    assert.equal((await storedSecrets(id))?.secret, secret);
    assert.equal((await storedSecrets(id))?.previous_secret, created.body.secret);
    const again = await admin.get('/console/webhooks');
    assert.ok(!again.text.includes(secret), 'shown once');
    assert.ok(!again.text.includes(created.body.secret));
    assert.match(again.text, /the previous secret signs too until/);

    // A console admin of one unit: another unit's endpoint does not exist for it.
    const restaurantAdminCreated = await admin.post('/console/users', {
      email: 'restaurant-admin@example.jp',
      password: PASSWORD,
      role: 'admin',
      units: unitIds.restaurant as string,
    });
    assert.equal(restaurantAdminCreated.status, 303, restaurantAdminCreated.text);
    const hotelsOwn = await request(
      tegami.url,
      'POST',
      '/v1/webhook-endpoints',
      { url: `${hook.url}/hotel-console`, events: ['message.sent'] },
      {},
      hotelKey,
    );
    const restaurantAdmin = await signIn(tegami.url, 'restaurant-admin@example.jp', PASSWORD);
    const refused = await restaurantAdmin.post(
      `/console/webhooks/${hotelsOwn.body.id}/rotate-secret`,
      {
        keep_previous_for_seconds: '0',
      },
    );
    assert.equal(refused.status, 404, refused.text);
    assert.equal((await storedSecrets(hotelsOwn.body.id))?.secret, hotelsOwn.body.secret);

    const audit = await admin.get('/console/audit?action=webhook_endpoint.rotate_secret');
    assert.match(audit.text, new RegExp(id));
    await tegami.request('DELETE', `/v1/webhook-endpoints/${id}`);
    await tegami.request('DELETE', `/v1/webhook-endpoints/${hotelsOwn.body.id}`);
  });
});
