import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../src/domain/api-keys.ts';
import { SqlApiKeyStore, SqlUnitStore } from '../src/store/index.ts';
import {
  message,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';

/**
 * Business units: a unit key sees and acts on its own unit only. Every endpoint, used with a key
 * of unit A on unit B's objects, answers as if they did not exist (404, or an empty list) and
 * changes nothing.
 */
describe(`business units and their isolation (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let hotelKey = '';
  let restaurantKey = '';
  const as = (key: string) => (method: string, path: string, body?: unknown) =>
    request(tegami.url, method, path, body, {}, key);
  const hotel = (method: string, path: string, body?: unknown) => as(hotelKey)(method, path, body);
  const restaurant = (method: string, path: string, body?: unknown) =>
    as(restaurantKey)(method, path, body);

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_UNSENT_AFTER_S: '1',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
      TEGAMI_WEBHOOKS_POLL_INTERVAL_MS: '50',
    });
    for (const name of ['hotel', 'restaurant']) {
      const created = await tegami.request('POST', '/v1/units', { name });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.body.id, /^unit_/);
    }
    const keys = new SqlApiKeyStore(tegami.service.database);
    const units = new SqlUnitStore(tegami.service.database);
    const unitId = async (name: string) => (await units.findByName(name))?.id ?? '';
    hotelKey = (
      await createApiKey(keys, 'hotel app', Date.now(), { unitId: await unitId('hotel') })
    ).key;
    restaurantKey = (
      await createApiKey(keys, 'restaurant app', Date.now(), {
        unitId: await unitId('restaurant'),
      })
    ).key;
  });
  after(async () => {
    await tegami.stop();
  });

  test('units: admin keys list and create them; names are checked and unique', async () => {
    const list = await tegami.request('GET', '/v1/units');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.data.map((u: { name: string }) => u.name),
      ['default', 'hotel', 'restaurant'],
    );
    const again = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'already_exists');
    const bad = await tegami.request('POST', '/v1/units', { name: 'Hotel Sakura' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].field, 'name');
    for (const [method, body] of [
      ['GET', undefined],
      ['POST', { name: 'spa' }],
    ] as const) {
      const refused = await hotel(method, '/v1/units', body);
      assert.equal(refused.status, 403, `${method} /v1/units with a unit key`);
      assert.equal(refused.body.error.code, 'forbidden');
    }
    const after = await tegami.request('GET', '/v1/units');
    assert.equal(after.body.data.length, 3, 'nothing was created');
    const doc = (await (await fetch(`${tegami.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    for (const path of [
      '/v1/units',
      '/v1/unsent',
      '/v1/unsent/summary',
      '/v1/recoveries',
      '/v1/recoveries/{id}',
      '/v1/recoveries/{id}/cancel',
      '/v1/audit-events',
      '/v1/providers/{name}/probe',
    ]) {
      assert.ok(doc.paths[path], `${path} is in the OpenAPI document`);
    }
  });

  test("a unit key's mail is its unit's; lists and filters show its own unit only", async () => {
    const mine = await hotel('POST', '/v1/messages', message({ subject: 'Hotel booking' }));
    const theirs = await restaurant('POST', '/v1/messages', message({ subject: 'Table booking' }));
    assert.equal(mine.status, 202);
    assert.equal(theirs.status, 202);
    const shown = await hotel('GET', `/v1/messages/${mine.body.id}`);
    assert.equal(shown.body.unit, 'hotel');
    const adminView = await tegami.request('GET', `/v1/messages/${theirs.body.id}`);
    assert.equal(adminView.body.unit, 'restaurant');

    const listed = await hotel('GET', '/v1/messages?limit=500&count=true');
    const ids = listed.body.data.map((m: { id: string }) => m.id);
    assert.ok(ids.includes(mine.body.id));
    assert.ok(!ids.includes(theirs.body.id));
    assert.ok(listed.body.data.every((m: { unit: string }) => m.unit === 'hotel'));
    assert.equal(listed.body.total, listed.body.data.length);
    const other = await hotel('GET', '/v1/messages?unit=restaurant&count=true');
    assert.deepEqual(other.body, { data: [], next_cursor: null, total: 0 });
    const admin = await tegami.request('GET', '/v1/messages?unit=restaurant');
    assert.ok(admin.body.data.some((m: { id: string }) => m.id === theirs.body.id));
    const unknown = await tegami.request('GET', '/v1/messages?unit=nowhere');
    assert.equal(unknown.status, 400, 'an admin is told the unit does not exist');
  });

  test("every endpoint, with a key of unit A on unit B's objects: 404 or nothing, and no change", async () => {
    // Unit B (restaurant): a failed message, a scheduled one, a suppression, an endpoint, a
    // recovery, and a sent message in the sandbox outbox.
    const failed = await restaurant(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'permanent-b@example.com' }], categories: ['booking'] }),
    );
    const scheduled = await restaurant(
      'POST',
      '/v1/messages',
      message({ send_at: new Date(Date.now() + 3600_000).toISOString() }),
    );
    const sent = await restaurant(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'b-guest@restaurant.example' }] }),
    );
    await waitFor(async () => {
      const [f, s] = await Promise.all([
        restaurant('GET', `/v1/messages/${failed.body.id}`),
        restaurant('GET', `/v1/messages/${sent.body.id}`),
      ]);
      return f.body.status === 'failed' && s.body.status === 'sent';
    }, 'unit B mail to fail and to be sent');
    const suppressed = await restaurant('POST', '/v1/suppressions', {
      email: 'b-only@example.com',
    });
    assert.equal(suppressed.status, 201);
    // The provider's words about unit B's mail, written here as an event would have.
    await tegami.service.database.db
      .updateTable('suppressions')
      .set({ detail: '550 5.1.1 b-only: no such user' })
      .where('email_normalized', '=', 'b-only@example.com')
      .execute();
    const endpoint = await restaurant('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.failed'],
    });
    assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
    assert.equal(endpoint.body.unit, 'restaurant');
    // A recovery of unit B over nothing: it is finished at once, and stays as it is.
    const recovery = await restaurant('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { recipient: 'nobody@nowhere.example' },
      dry_run: false,
    });
    assert.equal(recovery.status, 202, JSON.stringify(recovery.body));

    const state = async () => ({
      failed: (await tegami.request('GET', `/v1/messages/${failed.body.id}`)).body.status,
      scheduled: (await tegami.request('GET', `/v1/messages/${scheduled.body.id}`)).body.status,
      suppression: (
        await tegami.request('GET', '/v1/suppressions?email=b-only@example.com&unit=restaurant')
      ).body.data,
      endpoints: (await tegami.request('GET', '/v1/webhook-endpoints')).body.data.filter(
        (e: { id: string }) => e.id === endpoint.body.id,
      ).length,
      recovery: (await tegami.request('GET', `/v1/recoveries/${recovery.body.id}`)).body,
    });
    const before = await state();

    const notFound = async (method: string, path: string, body?: unknown) => {
      const r = await hotel(method, path, body);
      assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'not_found');
    };
    await notFound('GET', `/v1/messages/${failed.body.id}`);
    await notFound('POST', `/v1/messages/${failed.body.id}/retry`);
    await notFound('POST', `/v1/messages/${scheduled.body.id}/cancel`);
    await notFound('GET', `/v1/recoveries/${recovery.body.id}`);
    await notFound('POST', `/v1/recoveries/${recovery.body.id}/cancel`);
    await notFound('GET', `/v1/webhook-endpoints/${endpoint.body.id}`);
    await notFound('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`);
    await notFound('GET', `/v1/webhook-endpoints/${endpoint.body.id}/deliveries`);
    await notFound('POST', `/v1/webhook-endpoints/${endpoint.body.id}/redeliver`);
    await notFound('DELETE', '/v1/suppressions/b-only@example.com');

    const empty = async (path: string) => {
      const r = await hotel('GET', path);
      assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
      const ids = JSON.stringify(r.body);
      for (const id of [failed.body.id, scheduled.body.id, sent.body.id, recovery.body.id]) {
        assert.ok(!ids.includes(id), `${path} shows ${id}`);
      }
      return r.body;
    };
    await empty('/v1/messages?recipient=permanent-b@example.com');
    await empty('/v1/messages?recipient=@restaurant.example');
    await empty('/v1/messages?status=failed&limit=500');
    await empty('/v1/unsent?limit=500');
    const summary = await empty('/v1/unsent/summary');
    assert.ok(!JSON.stringify(summary).includes('restaurant'));
    await empty('/v1/recoveries');
    await empty(`/v1/sandbox/messages?message_id=${sent.body.id}`);
    assert.deepEqual((await empty('/v1/suppressions?email=b-only@example.com')).data, []);
    // Adding an address another unit suppressed: a new entry of its own (201), nothing of the
    // other unit's (the provider's words about its mail).
    const again = await hotel('POST', '/v1/suppressions', { email: 'b-only@example.com' });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.equal(again.body.reason, 'manual');
    assert.equal(again.body.detail, null);
    assert.equal(again.body.unit, 'hotel');
    const own = await restaurant('POST', '/v1/suppressions', { email: 'b-only@example.com' });
    assert.equal(own.status, 200);
    assert.equal(own.body.detail, '550 5.1.1 b-only: no such user');
    assert.equal(own.body.unit, 'restaurant');
    // Removing its own entry leaves the other unit's (compared with `before` at the end).
    assert.equal((await hotel('DELETE', '/v1/suppressions/b-only@example.com')).status, 204);
    await notFound('DELETE', '/v1/suppressions/b-only@example.com');
    assert.deepEqual((await empty('/v1/webhook-endpoints')).data, []);
    const audit = await empty('/v1/audit-events?limit=500');
    assert.ok(
      audit.data.every((e: { unit: string | null }) => e.unit === 'hotel'),
      'only its own unit in the audit log',
    );

    // A dry run and a real recovery over "everything failed" reach unit A's messages only.
    const dry = await hotel('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
    });
    assert.equal(dry.status, 200);
    assert.equal(dry.body.matched, 0, JSON.stringify(dry.body));
    const real = await hotel('POST', '/v1/recoveries', {
      action: 'retry',
      filter: { status: 'failed' },
      dry_run: false,
    });
    assert.equal(real.status, 202);
    assert.equal(real.body.matched, 0);
    assert.equal(real.body.unit, 'hotel');
    const probe = await hotel('POST', '/v1/providers/test/probe');
    assert.equal(probe.status, 403);

    // Webhook endpoint of unit A: a unit it does not own is refused like an unknown one.
    const foreign = await hotel('POST', '/v1/webhook-endpoints', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.sent'],
      unit: 'restaurant',
    });
    assert.equal(foreign.status, 400);

    assert.deepEqual(await state(), before, "unit B's objects are unchanged");
  });

  test("status webhooks carry the unit; a unit's endpoint hears its own unit only", async () => {
    const received: { unit: string; message_id: string }[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(JSON.parse(body).data);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    try {
      const hook = await hotel('POST', '/v1/webhook-endpoints', { url, events: ['message.sent'] });
      assert.equal(hook.status, 201);
      const mine = await hotel('POST', '/v1/messages', message());
      const theirs = await restaurant('POST', '/v1/messages', message());
      await waitFor(
        async () => received.some((d) => d.message_id === mine.body.id),
        "the hotel's message.sent",
      );
      // Give the restaurant's event time to be (wrongly) delivered before checking it was not.
      await waitFor(async () => {
        const r = await restaurant('GET', `/v1/messages/${theirs.body.id}`);
        return r.body.status === 'sent';
      }, 'the restaurant message sent');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(
        received.every((d) => d.unit === 'hotel'),
        JSON.stringify(received),
      );
      assert.ok(!received.some((d) => d.message_id === theirs.body.id));
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('an admin naming a unit that does not exist: 400 naming the field where it was given', async () => {
    // A query parameter is `querystring.unit`, a recovery's filter `filter.unit`, a body's own
    // field `unit`, as docs/api-errors.md names fields outside the body.
    for (const path of [
      '/v1/messages',
      '/v1/unsent',
      '/v1/unsent/summary',
      '/v1/alerts',
      '/v1/audit-events',
      '/v1/suppressions',
      '/v1/sendgrid/event-relay',
    ]) {
      const answer = await tegami.request('GET', `${path}?unit=nosuch`);
      assert.equal(answer.status, 400, `${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error.code, 'invalid_request');
      assert.deepEqual(
        answer.body.error.details.map((d: { field: string }) => d.field),
        ['querystring.unit'],
        `${path}: ${JSON.stringify(answer.body)}`,
      );
      assert.match(answer.body.error.details[0].message, /no unit is named "nosuch"/);
    }
    const removed = await tegami.request('DELETE', '/v1/sendgrid/event-relay?unit=nosuch');
    assert.equal(removed.body.error.details[0].field, 'querystring.unit');
    for (const dryRun of [true, false]) {
      const recovery = await tegami.request('POST', '/v1/recoveries', {
        action: 'retry',
        filter: { status: 'failed', unit: 'nosuch' },
        dry_run: dryRun,
      });
      assert.equal(recovery.status, 400, JSON.stringify(recovery.body));
      assert.equal(recovery.body.error.details[0].field, 'filter.unit');
    }
    const relay = await tegami.request('PUT', '/v1/sendgrid/event-relay', {
      url: 'http://127.0.0.1:9/events',
      unit: 'nosuch',
    });
    assert.equal(relay.body.error.details[0].field, 'unit');
  });

  test('tegami units and keys --unit from the command line', async () => {
    const env = { TEGAMI_DATABASE_URL: tegami.databaseUrl };
    const created = await runTegami(['units', 'create', 'spa'], env);
    assert.equal(created.code, 0, created.output);
    // Several at once; one bad name and none is created.
    const refused = await runTegami(['units', 'create', 'pool', 'Bad Name', 'spa'], env);
    assert.equal(refused.code, 2, refused.output);
    assert.match(refused.output, /nothing was created/);
    assert.match(refused.output, /Bad Name: /);
    assert.match(refused.output, /spa: a unit has this name/);
    const several = await runTegami(['units', 'create', 'pool', 'bar'], env);
    assert.equal(several.code, 0, several.output);
    const listed = await runTegami(['units', 'list'], env);
    assert.match(listed.output, /^spa\s+unit_/m);
    assert.match(listed.output, /^pool\s+unit_/m);
    assert.match(listed.output, /^bar\s+unit_/m);
    const twice = await runTegami(['units', 'create', 'gym', 'gym'], env);
    assert.equal(twice.code, 64, twice.output);
    assert.doesNotMatch((await runTegami(['units', 'list'], env)).output, /^gym/m);
    const help = await runTegami(['units', '--help'], env);
    assert.equal(help.code, 0);
    assert.match(help.output, /Usage: tegami units/);
    const key = await runTegami(['keys', 'create', '--unit', 'spa', '--name', 'spa app'], env);
    assert.equal(key.code, 0, key.output);
    const secret = /^(tgm_\S+)$/m.exec(key.output)?.[1] ?? '';
    const sent = await request(tegami.url, 'POST', '/v1/messages', message(), {}, secret);
    assert.equal(sent.status, 202);
    const shown = await request(
      tegami.url,
      'GET',
      `/v1/messages/${sent.body.id}`,
      undefined,
      {},
      secret,
    );
    assert.equal(shown.body.unit, 'spa');
    const unknown = await runTegami(['keys', 'create', '--unit', 'nowhere'], env);
    assert.equal(unknown.code, 2, unknown.output);
    assert.match(unknown.output, /no unit is named "nowhere"/);
    const audit = await tegami.request('GET', '/v1/audit-events?action=key.create');
    assert.equal(audit.body.data[0].actor.type, 'cli');
    assert.equal(audit.body.data[0].unit, 'spa');
  });
});
