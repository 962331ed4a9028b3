import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UNITS_LISTED_AT_MOST } from '../src/console/unit-field.ts';
import { newId } from '../src/domain/ids.ts';
import { SqlUnitStore } from '../src/store/index.ts';
import { queryDatabase, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The forms that take a unit (a new API key, user, status webhook endpoint) with up to
 * UNITS_LISTED_AT_MOST units offer them as a list; with one more, the unit's name is typed, and
 * looked up by itself: a name no unit has is refused with 400 and creates nothing. The pages
 * name the units of their own rows either way.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';

describe(`console forms with more units than they list (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  let units: SqlUnitStore;
  const ids = new Map<string, string>();

  /** How many of each thing there are, to tell that a refusal created nothing. */
  const counts = async () =>
    (
      await queryDatabase<Record<string, number>>(
        tegami.databaseUrl,
        `select (select count(*) from api_keys) as keys, (select count(*) from console_users) as users,
          (select count(*) from webhook_endpoints) as endpoints, (select count(*) from audit_events) as audit`,
      )
    ).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])))[0];

  /** Units made straight in the store (the API would take a request each), named `spa-N`. */
  async function makeUnits(from: number, to: number) {
    for (let i = from; i < to; i++) {
      const unit = { id: newId('unit'), name: `spa-${String(i).padStart(3, '0')}`, createdAt: 1 };
      assert.ok(await units.create(unit));
      ids.set(unit.name, unit.id);
    }
  }

  /** How each form asks for its unit: `list` (a select) or `name` (a text field). */
  async function unitFields() {
    const kind = (text: string, field: string) => {
      if (new RegExp(`<select name="${field}"`).test(text)) return 'list';
      if (new RegExp(`<input name="${field}"`).test(text)) return 'name';
      return 'none';
    };
    return {
      keys: kind((await admin.get('/console/keys')).text, 'unit'),
      users: kind((await admin.get('/console/users')).text, 'units'),
      webhooks: kind((await admin.get('/console/webhooks')).text, 'unit'),
    };
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    units = new SqlUnitStore(tegami.service.database);
    const hotel = await tegami.request('POST', '/v1/units', { name: 'hotel' });
    assert.equal(hotel.status, 201);
    ids.set('hotel', hotel.body.id);
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test(`up to ${UNITS_LISTED_AT_MOST} units are a list; one more, and each form asks for a name`, async () => {
    assert.deepEqual(await unitFields(), { keys: 'list', users: 'list', webhooks: 'list' });
    // `default` and `hotel`, and as many more as a list holds.
    await makeUnits(0, UNITS_LISTED_AT_MOST - 2);
    assert.equal((await units.list()).length, UNITS_LISTED_AT_MOST);
    assert.deepEqual(await unitFields(), { keys: 'list', users: 'list', webhooks: 'list' });
    const listed = (await admin.get('/console/keys')).text.match(/<option value="unit_/g);
    assert.equal(listed?.length, UNITS_LISTED_AT_MOST, 'every unit in the list');
    await makeUnits(UNITS_LISTED_AT_MOST - 2, UNITS_LISTED_AT_MOST - 1);
    assert.deepEqual(await unitFields(), { keys: 'name', users: 'name', webhooks: 'name' });
    assert.doesNotMatch((await admin.get('/console/keys')).text, /<option value="unit_/);
  });

  test('a name typed is the unit of a new key, user or endpoint, each page naming it in its row', async () => {
    const key = await admin.post('/console/keys', { name: 'hotel app', unit: ' hotel ' });
    assert.equal(key.status, 200, key.text.slice(0, 300));
    assert.match(key.text, /data-new-key/);
    assert.match(
      key.text,
      /<td class="wrap">hotel app<\/td><td><code>[^<]+<\/code><\/td><td>hotel<\/td>/,
    );
    const [keyRow] = await queryDatabase<{ unit_id: string }>(
      tegami.databaseUrl,
      "select unit_id from api_keys where name = 'hotel app'",
    );
    assert.equal(keyRow?.unit_id, ids.get('hotel'));
    // An id, as the list sends it, still names its unit.
    const byId = await admin.post('/console/keys', {
      name: 'spa app',
      unit: ids.get('spa-007') as string,
    });
    assert.equal(byId.status, 200, byId.text.slice(0, 300));

    const user = await admin.post('/console/users', {
      email: 'spa-desk@example.jp',
      password: PASSWORD,
      role: 'operator',
      units: 'hotel, spa-123',
    });
    assert.equal(user.status, 303, user.text.slice(0, 300));
    const usersPage = await admin.get(user.location as string);
    assert.match(
      usersPage.text,
      /<td class="wrap">spa-desk@example\.jp<\/td><td>operator<\/td><td>hotel, spa-123<\/td>/,
    );
    const everyUnit = await admin.post('/console/users', {
      email: 'night-desk@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: '*',
    });
    assert.equal(everyUnit.status, 303, everyUnit.text.slice(0, 300));

    const hook = await admin.post('/console/webhooks', {
      url: 'http://127.0.0.1:9/spa-hooks',
      events: ['message.sent'],
      unit: 'spa-042',
    });
    assert.equal(hook.status, 200, hook.text.slice(0, 300));
    const [endpoint] = await queryDatabase<{ unit_id: string; all_units: number }>(
      tegami.databaseUrl,
      "select unit_id, all_units from webhook_endpoints where url = 'http://127.0.0.1:9/spa-hooks'",
    );
    assert.equal(endpoint?.unit_id, ids.get('spa-042'));
    assert.equal(Number(endpoint?.all_units), 0);
    // Left empty, the name is every unit, as the list's first choice is.
    const every = await admin.post('/console/webhooks', {
      url: 'http://127.0.0.1:9/all-hooks',
      events: ['message.sent'],
      unit: '',
    });
    assert.equal(every.status, 200, every.text.slice(0, 300));
    const hooksPage = (await admin.get('/console/webhooks')).text;
    assert.match(
      hooksPage,
      /<h2>http:\/\/127\.0\.0\.1:9\/spa-hooks<\/h2>\s*<p>Events: message\.sent · unit spa-042 ·/,
    );
    assert.match(
      hooksPage,
      /<h2>http:\/\/127\.0\.0\.1:9\/all-hooks<\/h2>\s*<p>Events: message\.sent · every unit ·/,
    );
  });

  test('a name no unit has is refused with 400, "No unit is named …", the name kept, nothing created', async () => {
    const before = await counts();
    const refusedKey = await admin.post('/console/keys', { name: 'lost app', unit: 'spa-999' });
    assert.equal(refusedKey.status, 400, refusedKey.text.slice(0, 300));
    assert.match(refusedKey.text, /<p>No unit is named “spa-999”\.<\/p>\s*<p>No key was created\./);
    assert.match(refusedKey.text, /<input name="unit" value="spa-999"/);
    assert.doesNotMatch(refusedKey.text, /data-new-key/);

    const refusedUser = await admin.post('/console/users', {
      email: 'lost-desk@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: 'hotel, Not A Unit, spa-999',
    });
    assert.equal(refusedUser.status, 400, refusedUser.text.slice(0, 300));
    assert.match(
      refusedUser.text,
      /<li>No unit is named “Not A Unit”\.<\/li><li>No unit is named “spa-999”\.<\/li>/,
    );
    assert.match(
      refusedUser.text,
      /<input name="units" required value="hotel, Not A Unit, spa-999"/,
    );

    const refusedHook = await admin.post('/console/webhooks', {
      url: 'http://127.0.0.1:9/lost-hooks',
      events: ['message.sent'],
      unit: '<b>nowhere</b>',
    });
    assert.equal(refusedHook.status, 400, refusedHook.text.slice(0, 300));
    assert.match(refusedHook.text, /No unit is named “&lt;b&gt;nowhere&lt;\/b&gt;”\./);
    assert.doesNotMatch(refusedHook.text, /data-new-secret/);

    // An id naming no unit is no name typed: the list's words.
    const unknownId = await admin.post('/console/keys', {
      name: 'lost app',
      unit: `unit_${'0'.repeat(26)}`,
    });
    assert.equal(unknownId.status, 400);
    assert.match(unknownId.text, /That unit does not exist: choose one from the list\./);
    assert.deepEqual(await counts(), before);
  });
});
