import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery } from 'kysely';
import { messageConditions } from '../src/store/messages/conditions.ts';
import {
  createUnitWithKey,
  message,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  TEST_KEY,
  type TestService,
} from './helpers.ts';
import { signIn } from './support/console.ts';

/**
 * A guest asks about their mail with part of their address ("it starts with tanaka…"), and their
 * mail often has no display name. `recipient_text` (the API, `--recipient-text`, the console's
 * `to:tanaka`) finds text anywhere in any recipient's address or name, within the reader's unit.
 */
describe(`finding mail by part of a recipient's address or name (${TEST_ENGINE})`, () => {
  const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
  let tegami: TestService;
  let hotelId = '';
  let hotelKey = '';
  let spaKey = '';
  const ids: Record<string, string> = {};
  const named = (...names: string[]) => names.map((n) => ids[n] as string).sort();
  const list = async (query: string, key = TEST_KEY) => {
    const r = await request(
      tegami.url,
      'GET',
      `/v1/messages?limit=500&count=true&${query}`,
      undefined,
      {},
      key,
    );
    assert.equal(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.total, r.body.data.length, `${query}: each message once`);
    return (r.body.data as { id: string }[]).map((m) => m.id).sort();
  };
  const text = (value: string, key = TEST_KEY) =>
    list(`recipient_text=${encodeURIComponent(value)}`, key);

  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    ({ id: hotelId, key: hotelKey } = await createUnitWithKey(tegami, 'hotel'));
    spaKey = (await createUnitWithKey(tegami, 'spa')).key;
    const submit = async (name: string, overrides: Record<string, unknown>, key = TEST_KEY) => {
      const r = await request(tegami.url, 'POST', '/v1/messages', message(overrides), {}, key);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids[name] = r.body.id;
    };
    await submit('addressOnly', { to: [{ email: 'Tanaka.Taro@gmail.com' }] });
    await submit('nameOnly', { to: [{ email: 'guest-1042@example.jp', name: 'Taro Tanaka' }] });
    await submit('both', {
      to: [{ email: 'suzuki.ichiro@example.com', name: 'Ichiro Suzuki' }],
      cc: [{ email: 'front-desk@example.jp', name: 'Front desk 100%_open' }],
    });
    await submit('accented', { to: [{ email: 'guest@example.fr', name: 'Émile Dupré' }] });
    await submit('hotelGuest', { to: [{ email: 'tanaka.hanako@yahoo.co.jp' }] }, hotelKey);
  });
  after(async () => {
    await tegami.stop();
  });

  test('text in an address finds mail sent without a name, and in a name mail to another address', async () => {
    assert.deepEqual(await text('tanaka'), named('addressOnly', 'nameOnly', 'hotelGuest'));
    assert.deepEqual(await text('TANAKA.T'), named('addressOnly'), 'an address in any case');
    assert.deepEqual(await text('taro TANAKA'), named('nameOnly'), 'a name in any case');
    assert.deepEqual(await text('@gmail.'), named('addressOnly'));
    assert.deepEqual(await text('front-desk'), named('both'), "a cc recipient's address");
    assert.deepEqual(await text('suzuki'), named('both'), 'address and name: the message once');
    assert.deepEqual(
      await list('recipient_text=tanaka&recipient=@gmail.com'),
      named('addressOnly'),
    );
    // recipient_name, kept as it was, reads names only.
    assert.deepEqual(await list('recipient_name=tanaka'), named('nameOnly'));
  });

  test('% and _ are text, not wildcards', async () => {
    assert.deepEqual(await text('%'), named('both'));
    assert.deepEqual(await text('_'), named('both'));
    assert.deepEqual(await text('100%_o'), named('both'));
    assert.deepEqual(await text('o%y'), []);
    assert.deepEqual(await text('_@'), [], 'no address has an _ before its @');
  });

  test('letters beyond ASCII match as written, the ASCII ones in any case', async () => {
    assert.deepEqual(await text('Émile'), named('accented'));
    assert.deepEqual(await text('ÉMILE'), named('accented'));
    assert.deepEqual(await text('dupré'), named('accented'));
    assert.deepEqual(await text('DUPRé'), named('accented'));
  });

  test("a unit's key finds its own unit's mail only", async () => {
    assert.deepEqual(await text('tanaka', hotelKey), named('hotelGuest'));
    assert.deepEqual(await text('tanaka', spaKey), []);
    assert.deepEqual(await text('suzuki', hotelKey), []);
  });

  test("a unit's page reads the unit's index, as recipient_name's does (SQLite's plan)", {
    skip: TEST_ENGINE !== 'sqlite' && 'PostgreSQL plans by its statistics, and scans a few rows',
  }, async () => {
    const handle = tegami.service.database;
    const plan = async (filter: { recipientName?: string; recipientText?: string }) => {
      const query = handle.db
        .selectFrom('messages')
        .select('messages.id')
        .where((eb) => eb.and(messageConditions(eb, { ...filter, unitId: hotelId }, {})))
        .orderBy('messages.id', 'desc')
        .limit(51)
        .compile();
      const explained = await handle.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]),
      );
      return explained.rows.map((r) => r.detail);
    };
    const byText = await plan({ recipientText: 'tanaka' });
    assert.ok(
      byText.includes('SEARCH messages USING COVERING INDEX messages_unit (unit_id=? AND id=?)'),
      byText.join('\n'),
    );
    assert.deepEqual(byText, await plan({ recipientName: 'tanaka' }));
  });

  test('the unsent view and recoveries take it too; a blank or over-long text is a 400', async () => {
    const unsent = await tegami.request('GET', '/v1/unsent?recipient_text=tanaka');
    assert.equal(unsent.status, 200, JSON.stringify(unsent.body));
    const dry = await tegami.request('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { recipient_text: 'TANAKA' },
    });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.matched, 3);
    assert.deepEqual(dry.body.filter, { recipient_text: 'TANAKA' });
    for (const bad of ['%20%20', 'x'.repeat(201)]) {
      const r = await tegami.request('GET', `/v1/messages?recipient_text=${bad}`);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'invalid_request');
      assert.match(JSON.stringify(r.body.error.details), /recipient_text/);
    }
    const blank = await tegami.request('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { recipient_text: ' ' },
    });
    assert.equal(blank.status, 400);
    assert.match(JSON.stringify(blank.body.error.details), /filter\.recipient_text/);
  });

  test("the console's to:tanaka finds mail by address and by name", async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const shown = async (q: string) => {
      const page = await admin.get(`/console/messages?q=${encodeURIComponent(q)}`);
      assert.equal(page.status, 200);
      return Object.keys(ids)
        .filter((name) => page.text.includes(`/console/messages/${ids[name]}`))
        .sort();
    };
    assert.deepEqual(await shown('to:tanaka'), ['addressOnly', 'hotelGuest', 'nameOnly']);
    assert.deepEqual(await shown('to:"Taro Tanaka"'), ['nameOnly']);
    assert.deepEqual(await shown('to:tanaka -to:gmail'), ['hotelGuest', 'nameOnly']);
    assert.deepEqual(await shown('to:tanaka.taro@gmail'), ['addressOnly'], 'not a whole address');
    assert.deepEqual(await shown('to:TANAKA.TARO@GMAIL.COM'), ['addressOnly'], 'a whole address');
  });

  test('tegami recover --recipient-text', async () => {
    const env = { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' };
    const dry = await runTegami(
      ['recover', '--action', 'cancel', '--recipient-text', 'Tanaka', '--dry-run'],
      env,
    );
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /Filter: \{"recipient_text":"Tanaka"\}/);
    assert.match(dry.output, /Matched: 3 messages;/);
    for (const name of ['addressOnly', 'nameOnly', 'hotelGuest']) {
      assert.ok(dry.output.includes(ids[name] as string), `the sample shows ${name}`);
    }
    const blank = await runTegami(['recover', '--recipient-text', ' ', '--dry-run'], env);
    assert.equal(blank.code, 64, blank.output);
    assert.match(blank.output, /--recipient-text must not be blank/);
  });
});
