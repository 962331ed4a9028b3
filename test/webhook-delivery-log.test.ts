import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import { newId } from '../src/domain/ids.ts';
import type { WebhookDeliveryQuery } from '../src/domain/ports/status-webhook-store.ts';
import {
  type DatabaseHandle,
  migrateTo,
  openDatabase,
  SqlWebhookStore,
} from '../src/store/index.ts';
import type { Database, WebhookDeliveryTable } from '../src/store/schema.ts';
import { pendingCountQuery } from '../src/store/status-webhooks/count-pending.ts';
import {
  deliveryPageQuery,
  messageDeliveriesQuery,
  newestDeliveriesQuery,
} from '../src/store/status-webhooks/list-deliveries.ts';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

interface Entry {
  id: string;
  type: string;
  message_id: string | null;
  status: string;
  created_at: string;
  last_status: number | null;
  last_error: string | null;
  last_error_at: string | null;
}

/** A receiver that refuses (503) the status webhooks of mail whose metadata says `answer=fail`. */
async function receiver() {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      res.statusCode = body.includes('"answer":"fail"') ? 503 : 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * A webhook endpoint stored directly, in the columns every schema since 023 has (by SQL: an
 * earlier schema is not what today's types describe).
 */
async function storeEndpoint(
  db: Kysely<Database>,
  endpoint: { id: string; url: string; unitId: string; allUnits: boolean; at: number },
): Promise<void> {
  await sql`insert into webhook_endpoints (id, url, event_types, secret, created_at,
      disabled_at, unit_id, all_units, previous_secret, previous_secret_expires_at)
    values (${endpoint.id}, ${endpoint.url}, '["message.sent"]', 'a-secret-of-sixteen-or-more',
      ${endpoint.at}, null, ${endpoint.unitId}, ${endpoint.allUnits ? 1 : 0}, null, null)`.execute(
    db,
  );
}

/** A status webhook row as enqueue.ts writes it, already posted. */
function storedDelivery(
  endpointId: string,
  messageId: string,
  type: string,
  status: 'delivered' | 'failed',
  at: number,
): WebhookDeliveryTable {
  const id = newId('whd');
  const payload = {
    id,
    type,
    created_at: new Date(at).toISOString(),
    data: { message_id: messageId, unit: 'spa', status: 'sent', metadata: {} },
  };
  return {
    id,
    endpoint_id: endpointId,
    event_type: type,
    payload: JSON.stringify(payload),
    message_id: messageId,
    status,
    attempts: 1,
    next_attempt_at: null,
    last_status: status === 'delivered' ? 200 : 503,
    last_error: status === 'delivered' ? null : 'HTTP 503',
    last_error_at: status === 'delivered' ? null : at,
    created_at: at,
    retry_from: at,
    delivered_at: status === 'delivered' ? at : null,
  };
}

/**
 * `GET /v1/webhook-endpoints/{id}/deliveries`: the log a developer reads to find out why their
 * application missed a status update. It pages like the other lists (`next_cursor` back as
 * `cursor`), filters by status and message, and names the message of each entry.
 */
describe(`an endpoint's status webhook log (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
  let tegami: TestService;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const units: Record<string, { id: string; key: string; endpoint: string }> = {};
  /** The hotel's mail: posted fine, or refused by the application. */
  const hotelOk: string[] = [];
  const hotelRefused: string[] = [];
  /** When the hotel's mail was sent, and when all its status webhooks were done. */
  let hotelSentAt = 0;
  let hotelDoneAt = 0;
  /** The spa's log, written as it would be after a busy month: 2,345 entries. */
  const spaStored: WebhookDeliveryTable[] = [];

  const log = async (unit: string, query = '', key = units[unit]?.key) =>
    request(
      tegami.url,
      'GET',
      `/v1/webhook-endpoints/${units[unit]?.endpoint}/deliveries${query}`,
      undefined,
      {},
      key,
    );

  /** Every page of a log, following next_cursor; `between` runs before each next page. */
  async function pages(unit: string, query: string, between?: () => Promise<void>) {
    const all: Entry[][] = [];
    let cursor: string | null = null;
    do {
      const r = await log(unit, `?${query}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      all.push(r.body.data);
      cursor = r.body.next_cursor;
      assert.ok(all.length < 100, 'paging ends');
      if (cursor && between) await between();
    } while (cursor);
    return all;
  }

  before(async () => {
    hook = await receiver();
    tegami = await startTestService({
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_RETRY_BASE_MS: '50',
      TEGAMI_WEBHOOKS_RETRY_WINDOW_S: '1',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    for (const name of ['hotel', 'restaurant', 'spa']) {
      const unit = await createUnitWithKey(tegami, name);
      const created = await request(
        tegami.url,
        'POST',
        '/v1/webhook-endpoints',
        { url: hook.url, events: ['message.sent'] },
        {},
        unit.key,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      units[name] = { ...unit, endpoint: created.body.id };
    }
    const send = async (unit: string, metadata: Record<string, string> = {}) => {
      const r = await request(
        tegami.url,
        'POST',
        '/v1/messages',
        message({ metadata }),
        {},
        units[unit]?.key,
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.id as string;
    };
    hotelSentAt = Date.now();
    for (let i = 0; i < 4; i++) hotelOk.push(await send('hotel'));
    for (let i = 0; i < 2; i++) hotelRefused.push(await send('hotel', { answer: 'fail' }));
    await send('restaurant');
    await waitFor(async () => {
      const r = await log('hotel');
      const done = r.body.data.filter((d: Entry) => d.status !== 'pending');
      return done.length === 6;
    }, "the hotel's six status webhooks delivered or failed");
    hotelDoneAt = Date.now();

    const spa = units.spa?.endpoint as string;
    const start = Date.now() - 30 * 86_400_000;
    let messageId = '';
    for (let i = 0; i < 2_345; i++) {
      if (i % 2 === 0) messageId = newId('msg');
      const type = i % 2 === 0 ? 'message.sent' : 'recipient.delivered';
      spaStored.push(
        storedDelivery(spa, messageId, type, i % 10 === 3 ? 'failed' : 'delivered', start + i),
      );
    }
    for (let i = 0; i < spaStored.length; i += 500) {
      await tegami.service.database.db
        .insertInto('webhook_deliveries')
        .values(spaStored.slice(i, i + 500))
        .execute();
    }
  });
  after(async () => {
    await tegami?.stop();
    await hook?.close();
  });

  test('each entry names its message and event; filters by status and message', async () => {
    const all = await log('hotel');
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.equal(all.body.next_cursor, null, 'one page holds them all');
    const entries = all.body.data as Entry[];
    const ids = entries.map((d) => d.id);
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
    assert.deepEqual(
      entries.map((d) => d.message_id).sort(),
      [...hotelOk, ...hotelRefused].sort(),
      'each naming its message',
    );
    assert.ok(entries.every((d) => d.type === 'message.sent'));

    const failed = await log('hotel', '?status=failed');
    assert.deepEqual(
      failed.body.data.map((d: Entry) => d.message_id).sort(),
      [...hotelRefused].sort(),
    );
    const delivered = await log('hotel', '?status=delivered');
    assert.deepEqual(
      delivered.body.data.map((d: Entry) => d.message_id).sort(),
      [...hotelOk].sort(),
    );
    assert.deepEqual((await log('hotel', '?status=pending')).body.data, []);

    const one = await log('hotel', `?message_id=${hotelRefused[0]}`);
    assert.equal(one.body.data.length, 1);
    assert.equal(one.body.data[0].status, 'failed');
    assert.equal(one.body.data[0].last_status, 503);
    // Each refused one says when its last error was: a post after it was queued, before the log
    // was read. A delivered one has no error, and no time of one.
    for (const d of failed.body.data as Entry[]) {
      assert.equal(d.last_error, 'HTTP 503: ok');
      const at = Date.parse(d.last_error_at ?? '');
      assert.ok(
        at >= Date.parse(d.created_at) && at >= hotelSentAt && at <= hotelDoneAt,
        `${d.last_error_at} after ${d.created_at}, by ${new Date(hotelDoneAt).toISOString()}`,
      );
    }
    for (const d of delivered.body.data as Entry[]) {
      assert.deepEqual([d.last_error, d.last_error_at], [null, null]);
    }
    const both = await log('hotel', `?message_id=${hotelRefused[0]}&status=delivered`);
    assert.deepEqual(both.body.data, []);

    // Small pages of one status: each once, in order, and the last says so.
    const small = await pages('hotel', 'status=delivered&limit=3');
    assert.deepEqual(
      small.map((p) => p.length),
      [3, 1],
    );
    assert.deepEqual(
      small.flat().map((d) => d.id),
      delivered.body.data.map((d: Entry) => d.id),
    );
  });

  test('more than 1,000 entries, paged while new ones arrive: every one once, none repeated', async () => {
    const stored = spaStored.map((d) => d.id).reverse();
    const arrived: string[] = [];
    const listed = await pages('spa', 'limit=1000', async () => {
      // A status change on the spa's mail queues a status webhook meanwhile.
      const sent = await request(tegami.url, 'POST', '/v1/messages', message(), {}, units.spa?.key);
      assert.equal(sent.status, 202);
      arrived.push(sent.body.id);
      await waitFor(async () => {
        const r = await log('spa', `?message_id=${sent.body.id}`);
        return r.body.data.length === 1;
      }, 'the new status webhook in the log');
    });
    assert.deepEqual(
      listed.map((p) => p.length),
      [1000, 1000, 345],
    );
    const ids = listed.flat().map((d) => d.id);
    assert.deepEqual(ids, stored, 'each stored entry once, newest first');
    assert.equal(arrived.length, 2);
    // The new ones sort before the first page, where the next reading starts.
    const newest = await log('spa', '?limit=2');
    assert.deepEqual(
      newest.body.data.map((d: Entry) => d.message_id),
      [...arrived].reverse(),
    );

    // One status, in pages that do not divide it.
    const failed = await pages('spa', 'status=failed&limit=37');
    const expected = spaStored
      .filter((d) => d.status === 'failed')
      .map((d) => d.id)
      .reverse();
    assert.equal(failed.length, Math.ceil(expected.length / 37));
    assert.deepEqual(
      failed.flat().map((d) => d.id),
      expected,
    );

    // One message: both its events, newest first.
    const [sentEvent, deliveredEvent] = spaStored.slice(100, 102);
    const byMessage = await log('spa', `?message_id=${sentEvent?.message_id}`);
    assert.deepEqual(
      byMessage.body.data.map((d: Entry) => [d.id, d.type]),
      [
        [deliveredEvent?.id, 'recipient.delivered'],
        [sentEvent?.id, 'message.sent'],
      ],
    );
    assert.equal(byMessage.body.next_cursor, null);
  });

  test('a bad cursor, status, message id or limit is a 400 naming the field; nothing changes', async () => {
    const unchanged = JSON.stringify((await log('hotel')).body);
    const cursor = (id: string) => Buffer.from(id).toString('base64url');
    const cases: [string, string][] = [
      ['cursor=not-a-cursor', 'querystring.cursor'],
      ['cursor=', 'querystring.cursor'],
      [`cursor=${cursor(hotelOk[0] as string)}`, 'querystring.cursor'],
      [`cursor=${cursor('whd_SHORT')}`, 'querystring.cursor'],
      [`cursor=${'x'.repeat(201)}`, 'querystring.cursor'],
      ['status=sent', 'querystring.status'],
      ['status=FAILED', 'querystring.status'],
      ['status=', 'querystring.status'],
      ['message_id=whd_01JB8ZQ4W5X3C2V1N0M9K8J7H6', 'querystring.message_id'],
      [`message_id=${(hotelOk[0] as string).toLowerCase()}`, 'querystring.message_id'],
      ['limit=0', 'querystring.limit'],
      ['limit=1001', 'querystring.limit'],
      ['before=2026-01-01', 'querystring.before'],
    ];
    for (const [query, field] of cases) {
      const r = await log('hotel', `?${query}`);
      assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request', query);
      assert.equal(r.body.error.details[0].field, field, query);
    }
    assert.equal(JSON.stringify((await log('hotel')).body), unchanged);
  });

  test("a unit key reads its own unit's endpoints only, with or without a filter", async () => {
    const restaurant = units.restaurant?.key;
    for (const query of [
      '',
      '?status=failed',
      `?message_id=${hotelRefused[0]}`,
      `?cursor=${(await log('hotel', '?limit=1')).body.next_cursor}`,
    ]) {
      const r = await log('hotel', query, restaurant);
      assert.equal(r.status, 404, `${query}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'not_found');
    }
    const own = await log('restaurant', '', restaurant);
    assert.equal(own.status, 200);
    assert.equal(own.body.data.length, 1);
    // The hotel's endpoint never hears of the restaurant's mail.
    const mixed = await log('hotel', `?message_id=${own.body.data[0].message_id}`);
    assert.deepEqual(mixed.body.data, []);
    // An endpoint of every unit, made with an admin key, is not a unit key's to read.
    const everyUnit = await tegami.request('POST', '/v1/webhook-endpoints', {
      url: hook.url,
      events: ['message.failed'],
    });
    const r = await request(
      tegami.url,
      'GET',
      `/v1/webhook-endpoints/${everyUnit.body.id}/deliveries`,
      undefined,
      {},
      units.hotel?.key,
    );
    assert.equal(r.status, 404);
    assert.equal(
      (await tegami.request('GET', `/v1/webhook-endpoints/${everyUnit.body.id}/deliveries`)).status,
      200,
    );
    // An admin key reads any unit's.
    const admin = await tegami.request(
      'GET',
      `/v1/webhook-endpoints/${units.hotel?.endpoint}/deliveries?status=failed`,
    );
    assert.equal(admin.body.data.length, 2);
  });

  test("the console pages an endpoint's log the same way, by status and message", async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const spa = units.spa?.endpoint as string;
    const endpoints = await admin.get('/console/webhooks');
    assert.equal(endpoints.status, 200);
    // The card shows the newest five of the hotel's six: the last sent is among them.
    assert.ok(endpoints.text.includes(`/console/messages/${hotelRefused[1]}`), 'message ids link');
    assert.ok(endpoints.text.includes(`/console/webhooks/${spa}/deliveries`));

    const rows = (text: string) =>
      [
        ...text.matchAll(
          /<tr><td><time[^>]*>[^<]*<\/time><\/td><td>([^<]*)<\/td><td><a href="\/console\/messages\/(msg_\w+)"/g,
        ),
      ].map((m) => `${m[2]} ${m[1]}`);
    const older = (text: string) =>
      /href="([^"]*)" rel="next"/.exec(text)?.[1]?.replace(/&amp;/g, '&');
    const first = await admin.get(`/console/webhooks/${spa}/deliveries`);
    assert.equal(first.status, 200);
    const firstRows = rows(first.text);
    assert.equal(firstRows.length, 100);
    const next = older(first.text);
    assert.ok(next, 'an older page is offered');
    const second = await admin.get(next);
    const secondRows = rows(second.text);
    assert.equal(secondRows.length, 100);
    assert.ok(!secondRows.some((r) => firstRows.includes(r)), 'no entry on both pages');
    // The newest stored entries come right after the two that arrived while the API was paged.
    assert.equal(firstRows[2], `${spaStored.at(-1)?.message_id} ${spaStored.at(-1)?.event_type}`);

    const failed = await admin.get(`/console/webhooks/${spa}/deliveries?status=failed`);
    const failedNext = older(failed.text);
    assert.match(failedNext ?? '', /status=failed/, 'the filter is kept on the next page');
    assert.equal(rows(failed.text).length, 100);
    assert.ok(!failed.text.includes('<td>delivered</td>'));

    const messageId = spaStored[100]?.message_id as string;
    const byMessage = await admin.get(`/console/webhooks/${spa}/deliveries?message=${messageId}`);
    assert.deepEqual(rows(byMessage.text), [
      `${messageId} recipient.delivered`,
      `${messageId} message.sent`,
    ]);
    assert.equal(older(byMessage.text), undefined, 'no older page when there is none');

    const bad = await admin.get(`/console/webhooks/${spa}/deliveries?message=booking-42`);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /role="alert"[^>]*>Message: a message id/);
    assert.match(bad.text, /value="booking-42"/, 'what was typed is kept');
    assert.equal((await admin.get(`/console/webhooks/${spa}/deliveries?status=sent`)).status, 400);
    assert.equal((await admin.get(`/console/webhooks/${spa}/deliveries?older=x`)).status, 400);

    // A hotel admin sees the hotel's endpoint, not the spa's.
    const created = await admin.post('/console/users', {
      email: 'hotel-admin@example.jp',
      password: 'a-long-password-123',
      role: 'admin',
      units: units.hotel?.id as string,
    });
    assert.equal(created.status, 303, created.text);
    const hotelAdmin = await signIn(tegami.url, 'hotel-admin@example.jp', 'a-long-password-123');
    const own = await hotelAdmin.get(`/console/webhooks/${units.hotel?.endpoint}/deliveries`);
    assert.equal(own.status, 200);
    assert.equal(rows(own.text).length, 6);
    assert.equal((await hotelAdmin.get(`/console/webhooks/${spa}/deliveries`)).status, 404);
    assert.doesNotMatch((await hotelAdmin.get('/console/webhooks')).text, new RegExp(spa));
  });

  test("a deleted endpoint's log stays readable, in the API and the console, until retention", async () => {
    const restaurant = units.restaurant?.endpoint as string;
    const before = await log('restaurant');
    assert.equal(before.body.data.length, 1);
    const deleted = await tegami.request('DELETE', `/v1/webhook-endpoints/${restaurant}`);
    assert.equal(deleted.status, 204);

    // The same log, for the same readers: an admin key and the unit's own key, no other.
    for (const key of [undefined, units.restaurant?.key]) {
      const r = await log('restaurant', '', key);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, before.body);
    }
    assert.equal((await log('restaurant', '', units.hotel?.key)).status, 404);
    const messageId = before.body.data[0].message_id;
    assert.equal((await log('restaurant', `?message_id=${messageId}`)).body.data.length, 1);
    // Nothing is done with it any more: not listed, not deleted twice, nothing redelivered.
    const listed = await tegami.request('GET', '/v1/webhook-endpoints');
    assert.ok(!listed.body.data.some((e: { id: string }) => e.id === restaurant));
    assert.equal(
      (await tegami.request('DELETE', `/v1/webhook-endpoints/${restaurant}`)).status,
      404,
    );
    assert.equal(
      (await tegami.request('POST', `/v1/webhook-endpoints/${restaurant}/redeliver`, {})).status,
      404,
    );

    // The console: the log says the endpoint was deleted and offers nothing to do with it; the
    // endpoints' page lists it under the deleted ones, with its log; the message names it.
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const page = await admin.get(`/console/webhooks/${restaurant}/deliveries`);
    assert.equal(page.status, 200);
    assert.match(page.text, /id="endpoint-deleted"[^>]*><p>This endpoint was deleted <time/);
    assert.match(page.text, new RegExp(`<a href="/console/messages/${messageId}">`));
    assert.doesNotMatch(page.text, /redeliver|rotate-secret|\/delete"/);
    const endpoints = (await admin.get('/console/webhooks')).text;
    assert.doesNotMatch(endpoints, new RegExp(`/console/webhooks/${restaurant}/delete`));
    assert.match(
      endpoints,
      new RegExp(
        `<ul id="deleted-endpoints"><li><code>${hook.url}</code> · unit restaurant · deleted <time[^>]*>[^<]*</time> · <a href="/console/webhooks/${restaurant}/deliveries">`,
      ),
    );
    const message = await admin.get(`/console/messages/${messageId}`);
    assert.match(
      message.text,
      new RegExp(
        `message\\.sent to ${hook.url.replace(/\./g, '\\.')} <span class="muted">\\(endpoint deleted\\)</span>: delivered, 1 post <span class="muted">· HTTP 200</span> · <a href="/console/webhooks/${restaurant}/deliveries\\?message=${messageId}">`,
      ),
    );
    // Deleted twice from the console (a double click): the page, not an error.
    const again = await admin.post(`/console/webhooks/${restaurant}/delete`, {});
    assert.equal(again.status, 303);
    assert.equal(again.location, '/console/webhooks');
    assert.equal((await admin.post(`/console/webhooks/${restaurant}/redeliver`, {})).status, 404);
    // Once retention has removed the whole log, there is nothing left to list.
    await tegami.service.database.db
      .deleteFrom('webhook_deliveries')
      .where('endpoint_id', '=', restaurant)
      .execute();
    assert.doesNotMatch((await admin.get('/console/webhooks')).text, /deleted-endpoints/);
    assert.deepEqual((await log('restaurant')).body.data, []);
  });
});

/** A page of each kind reads its own index, one range of it, whatever the log's size. */
describe(`the log's queries and migrations 026 and 028 (${TEST_ENGINE})`, () => {
  test('status webhooks queued before 026 get their message; the log reads them by it', async () => {
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    const now = Date.now();
    const endpoint = newId('whk');
    const [a, b] = [newId('msg'), newId('msg')];
    let tegami: TestService | undefined;
    try {
      await migrateTo(handle.db, '025-unit-rate-windows');
      await storeEndpoint(handle.db, {
        id: endpoint,
        url: 'https://app.example/hooks',
        unitId: 'unit_old',
        allUnits: false,
        at: now,
      });
      const rows = [
        storedDelivery(endpoint, a, 'message.sent', 'delivered', now),
        storedDelivery(endpoint, b, 'message.sent', 'failed', now),
        storedDelivery(endpoint, a, 'recipient.delivered', 'delivered', now),
      ];
      for (const { message_id: _, last_error_at: __, ...row } of rows) {
        await handle.db.insertInto('webhook_deliveries').values(row).execute();
      }
      await handle.close();

      tegami = await startTestService({ TEGAMI_DATABASE_URL: db.url, TEGAMI_TEST_NO_WORKER: '1' });
      const stored = await queryDatabase<{ id: string; message_id: string }>(
        db.url,
        'select id, message_id from webhook_deliveries order by id',
      );
      assert.deepEqual(
        stored,
        rows.map((r) => ({ id: r.id, message_id: r.message_id })),
      );
      const read = async (query: string) => {
        const r = await tegami?.request(
          'GET',
          `/v1/webhook-endpoints/${endpoint}/deliveries${query}`,
        );
        assert.equal(r?.status, 200, JSON.stringify(r?.body));
        return r?.body.data.map((d: Entry) => [d.message_id, d.type, d.status]);
      };
      assert.deepEqual(await read(`?message_id=${a}`), [
        [a, 'recipient.delivered', 'delivered'],
        [a, 'message.sent', 'delivered'],
      ]);
      assert.deepEqual(await read('?status=failed'), [[b, 'message.sent', 'failed']]);

      // A process of an earlier release, still running, queues one without the column: the log
      // still names its message (from the body).
      const late = storedDelivery(endpoint, b, 'recipient.delivered', 'delivered', now);
      await tegami.service.database.db
        .insertInto('webhook_deliveries')
        .values({ ...late, message_id: null })
        .execute();
      assert.deepEqual((await read('?limit=1'))[0], [b, 'recipient.delivered', 'delivered']);
    } finally {
      await tegami?.stop();
      await db.cleanup();
    }
  });

  test('an error recorded before 028 has no time and is shown as before; a deletion records its time', async () => {
    const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
    const db = tempDatabase();
    const handle = openDatabase(db.url);
    const now = Date.now();
    const endpoint = newId('whk');
    const [a, b] = [newId('msg'), newId('msg')];
    let tegami: TestService | undefined;
    try {
      await migrateTo(handle.db, '027-delivery-event-status');
      await storeEndpoint(handle.db, {
        id: endpoint,
        url: 'https://app.example/hooks',
        unitId: 'unit_old',
        allUnits: true,
        at: now,
      });
      // Refused for good before 028, and one still waiting to be posted again.
      const refused = storedDelivery(endpoint, a, 'message.sent', 'failed', now - 60_000);
      const waiting = {
        ...storedDelivery(endpoint, b, 'message.sent', 'failed', now - 30_000),
        status: 'pending',
        next_attempt_at: now + 3_600_000,
      };
      for (const { last_error_at: _, ...row } of [refused, waiting]) {
        await handle.db.insertInto('webhook_deliveries').values(row).execute();
      }
      await handle.close();

      const started = await startTestService({
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_TEST_NO_WORKER: '1',
        TEGAMI_ADMIN_EMAIL: ADMIN.email,
        TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      });
      tegami = started;
      const read = async () => {
        const r = await started.request('GET', `/v1/webhook-endpoints/${endpoint}/deliveries`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return (r.body.data as Entry[]).map((d) => [
          d.message_id,
          d.status,
          d.last_status,
          d.last_error,
          d.last_error_at,
        ]);
      };
      assert.deepEqual(await read(), [
        [b, 'pending', 503, 'HTTP 503', null],
        [a, 'failed', 503, 'HTTP 503', null],
      ]);
      const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
      // Each row's last answer, newest first, as text.
      const logPage = async () =>
        [
          ...(await admin.get(`/console/webhooks/${endpoint}/deliveries`)).text.matchAll(
            /<td class="wrap">(.*?)<\/td><\/tr>/g,
          ),
        ].map((m) => (m[1] ?? '').replace(/<[^>]+>/g, ''));
      // The last answer as before 028, without a time.
      assert.deepEqual(await logPage(), ['HTTP 503', 'HTTP 503']);

      // Deleting the endpoint fails the waiting one, and says when (not with the status of the
      // post before, which was not the deletion's).
      const deleting = Date.now();
      const deleted = await tegami.request('DELETE', `/v1/webhook-endpoints/${endpoint}`);
      assert.equal(deleted.status, 204);
      const after = await read();
      assert.deepEqual(after[1], [a, 'failed', 503, 'HTTP 503', null]);
      const [, status, httpStatus, error, at] = after[0] ?? [];
      assert.deepEqual([status, httpStatus, error], ['failed', null, 'endpoint deleted']);
      const ms = Date.parse(String(at));
      assert.ok(ms >= deleting && ms <= Date.now(), String(at));
      const [first] = await logPage();
      assert.equal(
        first,
        `last error at ${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC: endpoint deleted`,
      );
    } finally {
      await tegami?.stop();
      await db.cleanup();
    }
  });

  test('every page, filtered or not and however deep, is one range of an index', async () => {
    const db = tempDatabase();
    let tegami: TestService | undefined;
    try {
      tegami = await startTestService({ TEGAMI_DATABASE_URL: db.url, TEGAMI_TEST_NO_WORKER: '1' });
      const handle: DatabaseHandle = tegami.service.database;
      // Two endpoints; the second added late, its log the newest tenth; an outage's failures.
      const rows: WebhookDeliveryTable[] = [];
      const start = Date.now() - 86_400_000;
      for (let i = 0; i < 20_000; i++) {
        const endpoint = i >= 18_000 && i % 2 === 0 ? 'whk_LATE' : 'whk_BUSY';
        const status = i >= 9_000 && i < 10_000 ? 'failed' : 'delivered';
        rows.push(storedDelivery(endpoint, newId('msg'), 'message.sent', status, start + i));
      }
      for (let i = 0; i < rows.length; i += 500) {
        await handle.db
          .insertInto('webhook_deliveries')
          .values(rows.slice(i, i + 500))
          .execute();
      }
      if (TEST_ENGINE !== 'sqlite') await sql`analyze webhook_deliveries`.execute(handle.db);
      const oldestLate = rows.find((r) => r.endpoint_id === 'whk_LATE')?.id as string;
      const oldestFailed = rows.find((r) => r.status === 'failed')?.id as string;
      const cases: [string, WebhookDeliveryQuery, string][] = [
        ['whk_BUSY', { limit: 101 }, 'webhook_deliveries_endpoint'],
        ['whk_LATE', { limit: 101, beforeId: oldestLate }, 'webhook_deliveries_endpoint'],
        ['whk_BUSY', { limit: 101, status: 'failed' }, 'webhook_deliveries_endpoint_status'],
        [
          'whk_BUSY',
          { limit: 101, status: 'failed', beforeId: oldestFailed },
          'webhook_deliveries_endpoint_status',
        ],
        [
          'whk_LATE',
          { limit: 101, status: 'delivered', beforeId: oldestLate },
          'webhook_deliveries_endpoint_status',
        ],
        [
          'whk_BUSY',
          { limit: 101, messageId: rows[5]?.message_id as string },
          'webhook_deliveries_message',
        ],
      ];
      const explain = TEST_ENGINE === 'sqlite' ? 'explain query plan' : 'explain';
      for (const [endpoint, query, index] of cases) {
        const compiled = deliveryPageQuery(handle, endpoint, query).compile();
        const plan = await handle.db.executeQuery(
          CompiledQuery.raw(`${explain} ${compiled.sql}`, [...compiled.parameters]),
        );
        const text = JSON.stringify(plan.rows);
        const label = `${endpoint} ${JSON.stringify(query)}: ${text}`;
        if (TEST_ENGINE === 'sqlite') {
          assert.match(
            text,
            new RegExp(`SEARCH webhook_deliveries USING INDEX ${index} \\(`),
            label,
          );
        } else {
          assert.match(text, new RegExp(`Index Scan Backward using ${index} `), label);
          assert.doesNotMatch(text, /Sort|Seq Scan|pkey/, label);
        }
      }
      // A message's status webhooks to every endpoint (its page in the console): its entries in
      // the same index, sorted.
      const messageId = rows[18_002]?.message_id as string;
      const compiled = messageDeliveriesQuery(handle, messageId, 100).compile();
      const plan = await handle.db.executeQuery(
        CompiledQuery.raw(`${explain} ${compiled.sql}`, [...compiled.parameters]),
      );
      const text = JSON.stringify(plan.rows);
      assert.match(
        text,
        TEST_ENGINE === 'sqlite'
          ? /SEARCH webhook_deliveries USING INDEX webhook_deliveries_message \(message_id=\?\)/
          : /Index Scan using webhook_deliveries_message /,
        text,
      );
      assert.doesNotMatch(text, /SCAN webhook_deliveries|Seq Scan|pkey/, text);
      const found = await messageDeliveriesQuery(handle, messageId, 100).execute();
      assert.deepEqual(
        found.map((r) => r.id),
        [rows[18_002]?.id],
      );

      // A page of the console's endpoints: each endpoint's newest entries, one range of its
      // index each, in one query; the same rows as each endpoint's first page of its log.
      const newest = newestDeliveriesQuery(handle, ['whk_BUSY', 'whk_LATE', 'whk_NONE'], 6);
      assert.ok(newest);
      const newestCompiled = newest.compile();
      const newestPlan = JSON.stringify(
        (
          await handle.db.executeQuery(
            CompiledQuery.raw(`${explain} ${newestCompiled.sql}`, [...newestCompiled.parameters]),
          )
        ).rows,
      );
      if (TEST_ENGINE === 'sqlite') {
        const searches = newestPlan.match(
          /SEARCH webhook_deliveries USING INDEX webhook_deliveries_endpoint \(/g,
        );
        assert.equal(searches?.length, 3, newestPlan);
        assert.doesNotMatch(newestPlan, /SCAN webhook_deliveries|TEMP B-TREE/, newestPlan);
      } else {
        const scans = newestPlan.match(/Index Scan Backward using webhook_deliveries_endpoint /g);
        assert.equal(scans?.length, 3, newestPlan);
        assert.doesNotMatch(newestPlan, /Sort|Seq Scan|pkey/, newestPlan);
      }
      const store = new SqlWebhookStore(handle);
      const byEndpoint = await store.newestDeliveries(['whk_BUSY', 'whk_LATE', 'whk_NONE'], 6);
      for (const endpoint of ['whk_BUSY', 'whk_LATE']) {
        const page = await store.deliveries(endpoint, { limit: 6 });
        assert.deepEqual(byEndpoint.get(endpoint), page, endpoint);
        assert.equal(page.length, 6);
      }
      assert.deepEqual(byEndpoint.get('whk_NONE'), []);
      assert.equal((await store.newestDeliveries([], 6)).size, 0);
    } finally {
      await tegami?.stop();
      await db.cleanup();
    }
  });

  test('asked before deleting an endpoint: its waiting status webhooks counted up to 1,000, from an index', async () => {
    const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
    const db = tempDatabase();
    let tegami: TestService | undefined;
    try {
      const started = await startTestService({
        TEGAMI_DATABASE_URL: db.url,
        TEGAMI_TEST_NO_WORKER: '1',
        TEGAMI_ADMIN_EMAIL: ADMIN.email,
        TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      });
      tegami = started;
      const handle: DatabaseHandle = started.service.database;
      const now = Date.now();
      // Waiting: a backlog past the count, the count exactly (behind a long delivered history),
      // one, none.
      const waiting: Record<string, number> = {
        whk_BACKLOG: 1_500,
        whk_THOUSAND: 1_000,
        whk_ONE: 1,
        whk_NONE: 0,
      };
      for (const endpoint of Object.keys(waiting)) {
        await storeEndpoint(handle.db, {
          id: endpoint,
          url: `https://app.example/${endpoint}`,
          unitId: 'unit_x',
          allUnits: true,
          at: now,
        });
      }
      const rows: WebhookDeliveryTable[] = [];
      for (let i = 0; i < 20_000; i++) {
        rows.push(storedDelivery('whk_THOUSAND', newId('msg'), 'message.sent', 'delivered', now));
      }
      for (const [endpoint, n] of Object.entries(waiting)) {
        for (let i = 0; i < n; i++) {
          rows.push({
            ...storedDelivery(endpoint, newId('msg'), 'message.sent', 'failed', now),
            status: 'pending',
            next_attempt_at: now + 3_600_000,
          });
        }
      }
      for (let i = 0; i < rows.length; i += 500) {
        await handle.db
          .insertInto('webhook_deliveries')
          .values(rows.slice(i, i + 500))
          .execute();
      }
      if (TEST_ENGINE !== 'sqlite') await sql`analyze webhook_deliveries`.execute(handle.db);

      const store = new SqlWebhookStore(handle);
      const counted: Record<string, number> = {};
      for (const endpoint of Object.keys(waiting)) {
        counted[endpoint] = await store.countPending(endpoint, 1_001);
      }
      assert.deepEqual(counted, {
        whk_BACKLOG: 1_001,
        whk_THOUSAND: 1_000,
        whk_ONE: 1,
        whk_NONE: 0,
      });

      // One range of an (endpoint_id, status, …) index, at most 1,001 entries of it.
      const explain = TEST_ENGINE === 'sqlite' ? 'explain query plan' : 'explain';
      const compiled = pendingCountQuery(handle, 'whk_BACKLOG', 1_001).compile();
      const plan = await handle.db.executeQuery(
        CompiledQuery.raw(`${explain} ${compiled.sql}`, [...compiled.parameters]),
      );
      const text = JSON.stringify(plan.rows);
      assert.match(
        text,
        TEST_ENGINE === 'sqlite'
          ? /SEARCH webhook_deliveries USING COVERING INDEX webhook_deliveries_endpoint_(status|due) \(endpoint_id=\? AND status=\?\)/
          : /(Index (Only )?Scan using|Bitmap Index Scan on) webhook_deliveries_endpoint_(status|due) /,
        text,
      );
      assert.match(text, /Limit|LIMIT|CO-ROUTINE|MATERIALIZE/, text);
      assert.doesNotMatch(text, /SCAN webhook_deliveries|Seq Scan/, text);

      // The page that asks says the count, or that there are more than 1,000.
      const admin = await signIn(started.url, ADMIN.email, ADMIN.password);
      const asked = async (endpoint: string) => {
        const r = await admin.get(`/console/webhooks/${endpoint}/delete`);
        assert.equal(r.status, 200);
        const words = r.text.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ');
        return /Nothing more is posted to it\. (.*?)\. Its log stays readable/.exec(words)?.[1];
      };
      assert.equal(
        await asked('whk_BACKLOG'),
        'More than 1,000 status webhooks still waiting to be posted to it are never posted: they are marked failed (“endpoint deleted”)',
      );
      assert.equal(
        await asked('whk_THOUSAND'),
        '1,000 status webhooks still waiting to be posted to it are never posted: they are marked failed (“endpoint deleted”)',
      );
      assert.equal(
        await asked('whk_ONE'),
        '1 status webhook still waiting to be posted to it is never posted: it is marked failed (“endpoint deleted”)',
      );
      assert.equal(await asked('whk_NONE'), 'No status webhook to it is waiting to be posted');
    } finally {
      await tegami?.stop();
      await db.cleanup();
    }
  });
});

/**
 * The console's Status webhooks page: however many endpoints the units add, and however many
 * deleted ones retention keeps, a page of it draws a bounded number of endpoints, each with a few
 * of its newest status webhooks.
 */
describe(`the endpoints' page, a page at a time (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
  const HOTEL_ADMIN = { email: 'hotel-admin@example.jp', password: 'a-long-password-123' };
  let tegami: TestService;
  const newestFirst = (ids: string[]) => [...ids].sort().reverse();
  /**
   * Active endpoints by unit, and deleted ones as listed, by unit and of every unit: most
   * recently deleted first.
   */
  const active: Record<string, string[]> = { hotel: [], spa: [] };
  const deleted: Record<string, string[]> = { hotel: [], spa: [] };
  let everyDeleted: string[] = [];
  /** An endpoint with more status webhooks than its card shows, and one with fewer. */
  const busy: WebhookDeliveryTable[] = [];
  const quiet: WebhookDeliveryTable[] = [];

  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    const db = tegami.service.database.db;
    const now = Date.now();
    // Hotel: 30 active, 25 deleted; spa: 15 active, 5 deleted. Each deleted one keeps one status
    // webhook: one whose log retention removed is not listed.
    const made: { unit: string; gone: boolean }[] = [
      ...Array.from({ length: 30 }, () => ({ unit: 'hotel', gone: false })),
      ...Array.from({ length: 15 }, () => ({ unit: 'spa', gone: false })),
      ...Array.from({ length: 25 }, () => ({ unit: 'hotel', gone: true })),
      ...Array.from({ length: 5 }, () => ({ unit: 'spa', gone: true })),
    ];
    const unitIds: Record<string, string> = {};
    for (const name of ['hotel', 'spa']) unitIds[name] = (await createUnitWithKey(tegami, name)).id;
    let n = 0;
    for (const { unit, gone } of made.sort(() => Math.random() - 0.5)) {
      const id = newId('whk');
      const at = now - 1_000_000 + n++;
      await storeEndpoint(db, {
        id,
        url: `https://${unit}.example.jp/hooks/${n}`,
        unitId: unitIds[unit] as string,
        allUnits: false,
        at,
      });
      if (gone) {
        // Deleted in another order than created: the list goes by when.
        await db
          .updateTable('webhook_endpoints')
          .set({ disabled_at: now - ((n * 7919) % 100_000) })
          .where('id', '=', id)
          .execute();
        await db
          .insertInto('webhook_deliveries')
          .values(storedDelivery(id, newId('msg'), 'message.sent', 'delivered', at))
          .execute();
        deleted[unit]?.push(id);
      } else {
        active[unit]?.push(id);
      }
    }
    const deletedAt = new Map(
      (await db.selectFrom('webhook_endpoints').select(['id', 'disabled_at']).execute()).map(
        (r) => [r.id, Number(r.disabled_at)],
      ),
    );
    const asListed = (ids: string[]) =>
      ids.sort((a, b) => (deletedAt.get(b) ?? 0) - (deletedAt.get(a) ?? 0) || (a < b ? 1 : -1));
    for (const unit of ['hotel', 'spa']) asListed(deleted[unit] ?? []);
    everyDeleted = asListed([...(deleted.hotel ?? []), ...(deleted.spa ?? [])]);
    const [busyEndpoint, quietEndpoint] = newestFirst(active.hotel ?? []);
    for (let i = 0; i < 7; i++) {
      busy.push(
        storedDelivery(busyEndpoint as string, newId('msg'), 'message.sent', 'delivered', now + i),
      );
    }
    for (let i = 0; i < 2; i++) {
      quiet.push(
        storedDelivery(quietEndpoint as string, newId('msg'), 'message.sent', 'failed', now + i),
      );
    }
    await db
      .insertInto('webhook_deliveries')
      .values([...busy, ...quiet])
      .execute();

    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const created = await admin.post('/console/users', {
      ...HOTEL_ADMIN,
      role: 'admin',
      units: unitIds.hotel as string,
    });
    assert.equal(created.status, 303, created.text);
  });
  after(async () => {
    await tegami?.stop();
  });

  const cards = (text: string) =>
    [...text.matchAll(/<section class="card" id="endpoint-(whk_\w+)"/g)].map((m) => m[1]);
  const deletedListed = (text: string) =>
    [
      ...(/<ul id="deleted-endpoints">(.*?)<\/ul>/s.exec(text)?.[1] ?? '').matchAll(
        /\/console\/webhooks\/(whk_\w+)\/deliveries/g,
      ),
    ].map((m) => m[1]);
  const nextPage = (text: string) =>
    /<a href="([^"]*)" rel="next">/.exec(text)?.[1]?.replace(/&amp;/g, '&');
  const card = (text: string, id: string) =>
    new RegExp(`<section class="card" id="endpoint-${id}">(.*?)</section>`, 's').exec(text)?.[1] ??
    '';

  /** Every page of a list, following its "Older …" links, and how many endpoints each drew. */
  async function everyPage(
    client: ConsoleClient,
    path: string,
    listed: (text: string) => (string | undefined)[],
  ) {
    const pages: string[][] = [];
    let next: string | undefined = path;
    while (next) {
      const r = await client.get(next);
      assert.equal(r.status, 200, r.text.slice(0, 500));
      pages.push(listed(r.text) as string[]);
      next = nextPage(r.text);
      assert.ok(pages.length < 10, 'paging ends');
    }
    return pages;
  }

  test('20 endpoints a page, newest first, each with its 5 newest status webhooks; deleted ones 20 under the first page, the rest on pages of their own', async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const every = newestFirst([...(active.hotel ?? []), ...(active.spa ?? [])]);
    const pages = await everyPage(admin, '/console/webhooks', cards);
    assert.deepEqual(
      pages.map((p) => p.length),
      [20, 20, 5],
    );
    assert.deepEqual(pages.flat(), every, 'each endpoint once, newest first');

    const first = await admin.get('/console/webhooks');
    // The card's newest status webhooks, newest first, and a link to the rest of its log.
    const busyCard = card(first.text, busy[0]?.endpoint_id as string);
    assert.deepEqual(
      [...busyCard.matchAll(/href="\/console\/messages\/(msg_\w+)"/g)].map((m) => m[1]),
      busy
        .slice(2)
        .reverse()
        .map((d) => d.message_id),
    );
    assert.match(busyCard, />Older status webhooks, or those of one status or message →</);
    const quietCard = card(first.text, quiet[0]?.endpoint_id as string);
    assert.equal([...quietCard.matchAll(/<tr><td>/g)].length, 2);
    assert.match(quietCard, />Status webhooks of one status or message →</);

    // Deleted: the 20 most recently deleted under the first page, none under the others.
    const under = deletedListed(first.text);
    assert.deepEqual(under, everyDeleted.slice(0, 20));
    const second = await admin.get(nextPage(first.text) as string);
    assert.deepEqual(deletedListed(second.text), []);
    assert.doesNotMatch(second.text, /Deleted endpoints/);
    const rest =
      /<a href="(\/console\/webhooks\/deleted\?older=whk_\w+)">Deleted before these →/.exec(
        first.text,
      )?.[1];
    assert.ok(rest, 'a link to the deleted endpoints not shown');
    const restPages = await everyPage(admin, rest, deletedListed);
    assert.deepEqual(restPages.flat(), everyDeleted.slice(20), 'the rest, each once');
    // Its first page too, for a link without a cursor.
    assert.deepEqual(
      (await everyPage(admin, '/console/webhooks/deleted', deletedListed)).flat(),
      everyDeleted,
    );
  });

  test("an admin of one unit pages through that unit's endpoints only", async () => {
    const hotelAdmin = await signIn(tegami.url, HOTEL_ADMIN.email, HOTEL_ADMIN.password);
    const pages = await everyPage(hotelAdmin, '/console/webhooks', cards);
    assert.deepEqual(
      pages.map((p) => p.length),
      [20, 10],
    );
    assert.deepEqual(pages.flat(), newestFirst(active.hotel ?? []));
    const first = await hotelAdmin.get('/console/webhooks');
    assert.deepEqual(deletedListed(first.text), deleted.hotel?.slice(0, 20));
    const rest = /<a href="(\/console\/webhooks\/deleted\?older=whk_\w+)">/.exec(first.text)?.[1];
    assert.deepEqual(
      (await everyPage(hotelAdmin, rest as string, deletedListed)).flat(),
      deleted.hotel?.slice(20),
    );
    for (const spa of [...(active.spa ?? []), ...(deleted.spa ?? [])]) {
      assert.ok(!first.text.includes(spa));
    }
    // A spa endpoint deleted names no page of the hotel's deleted endpoints.
    const other = await hotelAdmin.get(`/console/webhooks/deleted?older=${deleted.spa?.[0]}`);
    assert.equal(other.status, 400);
    assert.match(other.text, /That page of deleted endpoints does not exist\./);
  });

  test('a page link no page made is a 400 that says so; forms on a later page answer on it', async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    for (const path of [
      '/console/webhooks?older=garbage',
      `/console/webhooks?older=msg_${'0'.repeat(26)}`,
      '/console/webhooks?older=whk_1&older=whk_2',
    ]) {
      const r = await admin.get(path);
      assert.equal(r.status, 400, `${path}: ${r.text.slice(0, 300)}`);
    }
    assert.match(
      (await admin.get('/console/webhooks?older=garbage')).text,
      /That page of status webhook endpoints does not exist\./,
    );
    for (const older of ['garbage', `whk_${'0'.repeat(26)}`, active.hotel?.[0]]) {
      const r = await admin.get(`/console/webhooks/deleted?older=${older}`);
      assert.equal(r.status, 400, `${older}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /That page of deleted endpoints does not exist\./);
    }
    // A well-formed id past every endpoint: the end of the list, not an error.
    const end = await admin.get(`/console/webhooks?older=whk_${'0'.repeat(26)}`);
    assert.equal(end.status, 200);
    assert.match(end.text, /No older endpoint\./);

    // Posting failed ones again from the second page comes back to it, at the endpoint's card.
    const first = await admin.get('/console/webhooks');
    const older = /older=(whk_\w+)" rel="next"/.exec(first.text)?.[1] as string;
    const second = await admin.get(`/console/webhooks?older=${older}`);
    const [id] = cards(second.text);
    assert.match(second.text, new RegExp(`<input type="hidden" name="older" value="${older}">`));
    assert.match(second.text, new RegExp(`href="/console/webhooks/${id}/delete\\?older=${older}"`));
    const redelivered = await admin.post(`/console/webhooks/${id}/redeliver`, { older });
    assert.equal(redelivered.status, 303);
    assert.equal(
      redelivered.location,
      `/console/webhooks?older=${older}&redelivered=${id}&count=0#endpoint-${id}`,
    );
    const answer = await admin.get(redelivered.location as string);
    assert.match(card(answer.text, id as string), /id="redelivered"/);
    // The answer's note names its endpoint by id: a value no answer made is refused as well.
    for (const named of ['garbage', `msg_${'0'.repeat(26)}`, `${id}x`]) {
      const r = await admin.get(`/console/webhooks?older=${older}&redelivered=${named}&count=0`);
      assert.equal(r.status, 400, `${named}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /redelivered: a status webhook endpoint&#39;s id \(whk_…\)/);
      assert.doesNotMatch(r.text, /id="redelivered"/);
    }
    // Its count too: how many a redeliver queued, in plain digits, as many as it can say.
    const onPage = `/console/webhooks?older=${older}`;
    const biggest = await admin.get(`${onPage}&redelivered=${id}&count=9007199254740991`);
    assert.equal(biggest.status, 200);
    assert.match(card(biggest.text, id as string), /9,007,199,254,740,991 failed status webhooks/);
    for (const query of [
      ...['garbage', '-1', '1.5', '1e3', '+1', '01', ' 1', '0x10', '9007199254740992', ''].map(
        (n) => `redelivered=${id}&count=${encodeURIComponent(n)}`,
      ),
      `redelivered=${id}`,
      'count=garbage',
    ]) {
      const r = await admin.get(`${onPage}&${query}`);
      assert.equal(r.status, 400, `${query}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /count: how many failed status webhooks were queued again/);
      assert.doesNotMatch(r.text, /id="redelivered"/);
    }
    assert.equal(
      (await admin.post(`/console/webhooks/${id}/redeliver`, { older: 'x' })).status,
      400,
    );
    const asked = await admin.get(`/console/webhooks/${id}/delete?older=${older}`);
    assert.match(
      asked.text,
      new RegExp(`href="/console/webhooks\\?older=${older}#endpoint-${id}">← Back`),
    );
    // A refused new endpoint is answered on the page its form was on.
    const refused = await admin.post('/console/webhooks', {
      url: 'not a url',
      events: 'message.sent',
      older,
    });
    assert.equal(refused.status, 400);
    assert.deepEqual(cards(refused.text), cards(second.text));
  });
});
