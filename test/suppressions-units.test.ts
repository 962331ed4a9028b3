import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createApiKey } from '../src/domain/api-keys.ts';
import {
  assignSuppressionUnits,
  migrateTo,
  migrateToLatest,
  openDatabase,
  SqlApiKeyStore,
  SqlUnitStore,
} from '../src/store/index.ts';
import {
  message,
  postUnsignedEvents,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

type Entry = {
  email: string;
  reason: string;
  source: string;
  event_key: string | null;
  detail: string | null;
  created_at: string;
  unit: string | null;
};

/**
 * Each unit has its own suppression entry for an address. A security review found that a second
 * unit adding an address got the first unit's entry (200, with when it was added) and nothing of
 * its own, so the first unit removing its entry silently undid the second unit's opt-out. Any
 * entry still keeps every unit's mail from the address (configuration.md#suppression-list).
 */
describe(`suppression entries per unit (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let hotelKey = '';
  let shopKey = '';
  const hotel = (method: string, path: string, body?: unknown) =>
    request(tegami.url, method, path, body, {}, hotelKey);
  const shop = (method: string, path: string, body?: unknown) =>
    request(tegami.url, method, path, body, {}, shopKey);
  const admin = (method: string, path: string, body?: unknown) =>
    tegami.request(method, path, body);

  before(async () => {
    tegami = await startTestService({
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    const keys = new SqlApiKeyStore(tegami.service.database);
    const units = new SqlUnitStore(tegami.service.database);
    const key = async (name: string) => {
      const created = await admin('POST', '/v1/units', { name });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const unitId = (await units.findByName(name))?.id ?? '';
      return (await createApiKey(keys, `${name} app`, Date.now(), { unitId })).key;
    };
    hotelKey = await key('hotel');
    shopKey = await key('shop');
  });
  after(async () => {
    await tegami.stop();
  });

  const lookUp = async (as: typeof hotel, email: string, extra = ''): Promise<Entry[]> => {
    const r = await as('GET', `/v1/suppressions?email=${encodeURIComponent(email)}${extra}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data;
  };

  async function submit(as: typeof hotel, to: string): Promise<string> {
    const r = await as('POST', '/v1/messages', message({ to: [{ email: to }] }));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id;
  }

  async function finished(id: string) {
    return waitFor(async () => {
      const got = await admin('GET', `/v1/messages/${id}`);
      return ['sent', 'failed'].includes(got.body.status) ? got.body : null;
    }, `message ${id} to finish`);
  }

  async function outbox(id: string): Promise<unknown[]> {
    const got = await admin('GET', `/v1/sandbox/messages?message_id=${id}`);
    assert.equal(got.status, 200);
    return got.body.data;
  }

  async function auditOf(as: typeof hotel, action: string, target: string) {
    const r = await as('GET', `/v1/audit-events?action=${action}&limit=500`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.data as { unit: string | null; target: string }[])
      .filter((e) => e.target === target)
      .map((e) => e.unit);
  }

  const postEvents = (events: Record<string, unknown>[]) => postUnsignedEvents(tegami.url, events);

  test("the review's reproduction: shop removing its entry leaves hotel's, and hotel's mail is not sent", async () => {
    const address = 'optout2@example.com';
    // 1. shop suppresses the address.
    const shopAdded = await shop('POST', '/v1/suppressions', { email: address });
    assert.equal(shopAdded.status, 201, JSON.stringify(shopAdded.body));
    assert.equal(shopAdded.body.unit, 'shop');
    // 2. hotel, the same: an entry of its own, with its own time, and its own audit event.
    await new Promise((r) => setTimeout(r, 5));
    const hotelAdded = await hotel('POST', '/v1/suppressions', { email: address });
    assert.equal(hotelAdded.status, 201, JSON.stringify(hotelAdded.body));
    assert.deepEqual(
      { ...hotelAdded.body, created_at: undefined },
      {
        email: address,
        reason: 'manual',
        source: 'api',
        detail: null,
        event_key: null,
        message_id: null,
        created_at: undefined,
        unit: 'hotel',
      },
    );
    assert.notEqual(hotelAdded.body.created_at, shopAdded.body.created_at, "not shop's entry");
    assert.deepEqual(await auditOf(hotel, 'suppression.add', address), ['hotel']);
    assert.deepEqual(await auditOf(shop, 'suppression.add', address), ['shop']);
    // Adding it again shows the unit's own entry (200), still nothing of the other unit's.
    const again = await hotel('POST', '/v1/suppressions', { email: 'OptOut2@Example.com' });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, hotelAdded.body);
    assert.deepEqual(await auditOf(hotel, 'suppression.add', address), ['hotel'], 'no new event');
    // 3. hotel lists the address (its own entry only); so does shop.
    assert.deepEqual(await lookUp(hotel, address), [hotelAdded.body]);
    assert.deepEqual(await lookUp(shop, address), [shopAdded.body]);
    const hotelList = await hotel('GET', '/v1/suppressions?limit=1000');
    assert.ok(hotelList.body.data.some((e: Entry) => e.email === address));
    assert.ok(hotelList.body.data.every((e: Entry) => e.unit === 'hotel'));
    // 4. shop removes its entry: hotel's stays.
    assert.equal((await shop('DELETE', `/v1/suppressions/${address}`)).status, 204);
    assert.deepEqual(await lookUp(shop, address), []);
    assert.deepEqual(await lookUp(hotel, address), [hotelAdded.body]);
    assert.deepEqual(await auditOf(shop, 'suppression.remove', address), ['shop']);
    assert.deepEqual(await auditOf(hotel, 'suppression.remove', address), []);
    // 5. hotel's message to the address is not sent.
    const id = await submit(hotel, address);
    const record = await finished(id);
    assert.equal(record.status, 'failed');
    assert.equal(record.last_error, `all recipients are suppressed: ${address} (manual)`);
    assert.equal(record.recipients[0].status, 'suppressed');
    assert.deepEqual(await outbox(id), []);
  });

  test("a unit cannot remove another unit's entry: 404, and the entry stays", async () => {
    const address = 'shop-only@example.com';
    const added = await shop('POST', '/v1/suppressions', { email: address });
    assert.equal(added.status, 201);
    const refused = await hotel('DELETE', `/v1/suppressions/${address}`);
    assert.equal(refused.status, 404);
    assert.equal(refused.body.error.code, 'not_found');
    const named = await hotel('DELETE', `/v1/suppressions/${address}?unit=shop`);
    assert.equal(named.status, 400, 'another unit is no unit for a unit key');
    assert.equal(named.body.error.details[0].field, 'querystring.unit');
    assert.deepEqual(await lookUp(hotel, address), []);
    const listed = await hotel('GET', `/v1/suppressions?email=${address}&unit=shop`);
    assert.equal(listed.status, 400, 'nor may it list them');
    assert.deepEqual(await lookUp(shop, address), [added.body]);
    assert.deepEqual(await auditOf(hotel, 'suppression.remove', address), []);
    // The documented rule stands: an entry of any unit keeps every unit's mail from the address.
    const id = await submit(hotel, address);
    assert.equal((await finished(id)).status, 'failed');
    assert.deepEqual(await outbox(id), []);
  });

  test("admin keys see every unit's entries with the unit, filter by unit, and remove one or all", async () => {
    const address = 'both@example.com';
    const fromHotel = await hotel('POST', '/v1/suppressions', { email: address });
    const fromShop = await shop('POST', '/v1/suppressions', { email: address });
    assert.equal(fromHotel.status, 201);
    assert.equal(fromShop.status, 201);
    const all = await lookUp(admin, address);
    assert.deepEqual(all.map((e) => e.unit).sort(), ['hotel', 'shop']);
    assert.deepEqual(await lookUp(admin, address, '&unit=shop'), [fromShop.body]);
    const unknown = await admin('GET', '/v1/suppressions?unit=nowhere');
    assert.equal(unknown.status, 400);

    assert.equal((await admin('DELETE', `/v1/suppressions/${address}?unit=hotel`)).status, 204);
    assert.deepEqual(await lookUp(admin, address), [fromShop.body]);
    assert.equal((await admin('DELETE', `/v1/suppressions/${address}?unit=hotel`)).status, 404);

    await hotel('POST', '/v1/suppressions', { email: address });
    assert.equal((await admin('DELETE', `/v1/suppressions/${address}`)).status, 204);
    assert.deepEqual(await lookUp(admin, address), []);
    // One audit event per entry removed, under its unit: each unit sees its own.
    assert.deepEqual(await auditOf(hotel, 'suppression.remove', address), ['hotel', 'hotel']);
    assert.deepEqual(await auditOf(shop, 'suppression.remove', address), ['shop']);
    const id = await submit(hotel, address);
    assert.equal((await finished(id)).status, 'sent', 'no entry left: sent again');
  });

  test("events: a bounce of a unit's mail is that unit's entry, next to another unit's own", async () => {
    const address = 'bounces@example.com';
    // shop's mail went out before anyone suppressed the address; then hotel suppressed it, and
    // shop's message bounced.
    const sent = await submit(shop, address);
    assert.equal((await finished(sent)).status, 'sent');
    assert.equal((await hotel('POST', '/v1/suppressions', { email: address })).status, 201);
    await postEvents([
      {
        event: 'bounce',
        type: 'bounce',
        email: address,
        reason: '550 no such user',
        tegami_message_id: sent,
      },
    ]);
    const [shopEntry] = await lookUp(shop, address);
    assert.equal(shopEntry?.reason, 'bounce');
    assert.equal(shopEntry?.source, 'event');
    assert.equal(shopEntry?.detail, '550 no such user');
    assert.equal(shopEntry?.unit, 'shop');
    const hotelEntries = await lookUp(hotel, address);
    assert.deepEqual(
      hotelEntries.map((e) => [e.reason, e.detail, e.unit]),
      [['manual', null, 'hotel']],
      "hotel does not see shop's bounce",
    );
    // hotel removing its entry leaves shop's bounce, which holds for hotel's mail too.
    assert.equal((await hotel('DELETE', `/v1/suppressions/${address}`)).status, 204);
    const id = await submit(hotel, address);
    const record = await finished(id);
    assert.equal(record.status, 'failed');
    assert.equal(record.recipients[0].suppressed_reason, 'bounce');

    // An event matched to no message: an entry of no unit, admin keys only.
    await postEvents([{ event: 'spamreport', email: 'nobody-knows@example.com' }]);
    assert.deepEqual(await lookUp(hotel, 'nobody-knows@example.com'), []);
    const [orphan] = await lookUp(admin, 'nobody-knows@example.com');
    assert.equal(orphan?.unit, null);
    assert.equal(orphan?.reason, 'spamreport');
  });

  test('an unmatched event matched later gets its unit, unless that unit has an entry already', async () => {
    const db = tegami.service.database.db;
    const sentTo = async (address: string) => {
      const id = await submit(shop, address);
      assert.equal((await finished(id)).status, 'sent');
      return id;
    };
    const fresh = await sentTo('late-fresh@example.com');
    const taken = await sentTo('late-taken@example.com');
    const earlier = await sentTo('late-earlier@example.com');
    // shop's entry from a bounce matched at once; a spam report that occurred a minute before it
    // comes unmatched (below), and decides shop's entry once it is matched.
    const at = Math.floor(Date.now() / 1000);
    await postEvents([
      {
        event: 'bounce',
        email: 'late-earlier@example.com',
        tegami_message_id: earlier,
        timestamp: at,
      },
    ]);
    await shop('POST', '/v1/suppressions', { email: 'late-taken@example.com' });
    // Hotel's entry for the same address must not stop shop from getting the event's entry.
    await hotel('POST', '/v1/suppressions', { email: 'late-fresh@example.com' });
    const events = [
      ...['late-fresh@example.com', 'late-taken@example.com'].map((email) => ({
        event: 'bounce',
        type: 'bounce',
        email,
        sg_event_id: randomUUID(),
      })),
      {
        event: 'spamreport',
        email: 'late-earlier@example.com',
        sg_event_id: randomUUID(),
        timestamp: at - 60,
      },
    ];
    await postEvents(events);
    for (const email of [
      'late-fresh@example.com',
      'late-taken@example.com',
      'late-earlier@example.com',
    ]) {
      assert.ok(
        (await lookUp(admin, email)).some((e) => e.unit === null),
        email,
      );
    }
    // The events' messages become known (as late matching would find them).
    for (const [event, messageId] of [
      [events[0], fresh],
      [events[1], taken],
      [events[2], earlier],
    ] as const) {
      await db
        .updateTable('delivery_events')
        .set({ message_id: messageId })
        .where('event_key', '=', `sendgrid:${event?.sg_event_id}`)
        .execute();
    }
    await tegami.service.database.writeTransaction((trx) =>
      assignSuppressionUnits(trx, tegami.service.database.dialect),
    );
    assert.deepEqual(
      (await lookUp(admin, 'late-fresh@example.com')).map((e) => [e.unit, e.reason]).sort(),
      [
        ['hotel', 'manual'],
        ['shop', 'bounce'],
      ],
    );
    assert.deepEqual(
      (await lookUp(admin, 'late-taken@example.com')).map((e) => [e.unit, e.reason]),
      [['shop', 'manual']],
      "shop's entry by hand stays; the unmatched one is dropped",
    );
    const [shopEntry, ...others] = await lookUp(admin, 'late-earlier@example.com');
    assert.deepEqual(others, [], 'the unmatched entry is dropped');
    assert.deepEqual(
      [shopEntry?.unit, shopEntry?.reason, shopEntry?.event_key],
      ['shop', 'spamreport', `sendgrid:${events[2]?.sg_event_id}`],
      'the earlier event decides the entry, though it was matched after the bounce',
    );
  });

  test('admin pages over entries sharing an address and a time: each exactly once', async () => {
    const units = await admin('GET', '/v1/units');
    const ids = (units.body.data as { id: string }[]).map((u) => u.id);
    const at = Date.now() - 86_400_000 * 365;
    const rows = ['tie-a@example.com', 'tie-b@example.com'].flatMap((email) =>
      [...ids, null].map((unitId) => ({
        email_normalized: email,
        email,
        reason: 'manual',
        source: unitId ? 'api' : 'event',
        event_key: null,
        detail: null,
        created_at: at,
        unit_id: unitId,
      })),
    );
    await tegami.service.database.db.insertInto('suppressions').values(rows).execute();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await admin('GET', `/v1/suppressions?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      for (const e of r.body.data as Entry[]) seen.push(`${e.email} ${e.unit}`);
      cursor = r.body.next_cursor;
    } while (cursor);
    const ties = seen.filter((s) => s.startsWith('tie-'));
    assert.equal(ties.length, rows.length, ties.join(', '));
    assert.equal(new Set(seen).size, seen.length, 'nothing twice');
    // A cursor from before entries had units ([time, address]) still works.
    const old = Buffer.from(JSON.stringify([at + 1, 'zzz'])).toString('base64url');
    const continued = await admin('GET', `/v1/suppressions?limit=1000&cursor=${old}`);
    assert.equal(continued.status, 200);
    assert.equal(
      (continued.body.data as Entry[]).filter((e) => e.email.startsWith('tie-')).length,
      rows.length,
    );
  });

  test('the console: an admin sees the unit of each entry and removes one entry', async () => {
    const address = 'console-both@example.com';
    await hotel('POST', '/v1/suppressions', { email: address });
    await shop('POST', '/v1/suppressions', { email: address });
    const ops = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const page = await ops.get(`/console/suppressions?email=${address}`);
    assert.equal(page.status, 200);
    assert.match(page.text, /<th>Unit<\/th>/);
    assert.match(page.text, /<td>hotel<\/td>/);
    assert.match(page.text, /<td>shop<\/td>/);
    const shopId = (
      await tegami.service.database.db
        .selectFrom('units')
        .select('id')
        .where('name', '=', 'shop')
        .executeTakeFirstOrThrow()
    ).id;
    const removed = await ops.post('/console/suppressions/remove', {
      email: address,
      unit: shopId,
      why: 'guest asked the shop',
    });
    assert.equal(removed.status, 303, removed.text);
    assert.deepEqual(
      (await lookUp(admin, address)).map((e) => e.unit),
      ['hotel'],
    );
    assert.deepEqual(await auditOf(shop, 'suppression.remove', address), ['shop']);
  });
});

/** Migration 018 on a database that holds entries: each keeps its unit, or none. */
describe(`migration 018-unit-suppressions on existing entries (${TEST_ENGINE})`, () => {
  const db = tempDatabase();
  after(() => db.cleanup());

  test('existing entries keep their unit; a second unit may then add the address', async () => {
    const handle = openDatabase(db.url);
    const now = Date.now();
    try {
      await migrateTo(handle.db, '017-metadata-lookup');
      const unitId = (
        await sql<{ id: string }>`select id from units where name = 'default'`.execute(handle.db)
      ).rows[0]?.id;
      assert.ok(unitId);
      await sql`insert into suppressions (email_normalized, email, reason, source, event_key,
          detail, created_at, unit_id)
        values ('kept@example.com', 'Kept@Example.com', 'manual', 'api', null, null, ${now}, ${unitId}),
               ('orphan@example.com', 'orphan@example.com', 'bounce', 'event', 'sendgrid:e1',
                '550 gone', ${now + 1}, null)`.execute(handle.db);
      assert.equal((await migrateToLatest(handle.db))[0], '018-unit-suppressions');

      const rows = await sql<{
        email_normalized: string;
        email: string;
        unit_id: string | null;
        detail: string | null;
      }>`select email_normalized, email, unit_id, detail from suppressions
        order by email_normalized`.execute(handle.db);
      assert.deepEqual(rows.rows, [
        {
          email_normalized: 'kept@example.com',
          email: 'Kept@Example.com',
          unit_id: unitId,
          detail: null,
        },
        {
          email_normalized: 'orphan@example.com',
          email: 'orphan@example.com',
          unit_id: null,
          detail: '550 gone',
        },
      ]);
      // Another unit's entry for the same address; the same unit's again, and a second entry of no
      // unit, are refused by the key.
      await sql`insert into suppressions (email_normalized, email, reason, source, created_at, unit_id)
        values ('kept@example.com', 'kept@example.com', 'manual', 'api', ${now}, 'unit_other')`.execute(
        handle.db,
      );
      for (const unit of [unitId, null]) {
        const email = unit ? 'kept@example.com' : 'orphan@example.com';
        await assert.rejects(
          sql`insert into suppressions (email_normalized, email, reason, source, created_at, unit_id)
            values (${email}, ${email}, 'manual', 'api', ${now}, ${unit})`.execute(handle.db),
          `a second entry of ${unit ?? 'no unit'}`,
        );
      }
    } finally {
      await handle.close();
    }
    const count = await queryDatabase<{ n: number | string }>(
      db.url,
      'select count(*) as n from suppressions',
    );
    assert.equal(Number(count[0]?.n), 3);
  });
});
