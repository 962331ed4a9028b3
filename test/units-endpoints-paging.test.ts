import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createUnitWithKey,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
} from './helpers.ts';

/**
 * `GET /v1/units` and `GET /v1/webhook-endpoints` page like every other list: `limit` (1 to 500,
 * default 50) and `cursor`, `next_cursor` back, null on the last page; the same 400 for a bad
 * `limit` or `cursor`. A unit key pages through its own unit's endpoints only.
 */
describe(`GET /v1/units and /v1/webhook-endpoints paging (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  /** 'default' and the units made here: more than one default page. */
  const unitNames: string[] = ['default'];
  let hotel = { id: '', key: '' };
  let spa = { id: '', key: '' };
  const endpointsOf: Record<'admin' | 'hotel' | 'spa', string[]> = {
    admin: [],
    hotel: [],
    spa: [],
  };

  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    hotel = await createUnitWithKey(tegami, 'hotel');
    spa = await createUnitWithKey(tegami, 'spa');
    unitNames.push('hotel', 'spa');
    for (let i = 0; i < 55; i++) {
      const name = `unit-${String(i).padStart(2, '0')}`;
      const made = await tegami.request('POST', '/v1/units', { name });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      unitNames.push(name);
    }
    unitNames.sort();
    const register = async (
      owner: keyof typeof endpointsOf,
      key: string | undefined,
      n: number,
    ) => {
      for (let i = 0; i < n; i++) {
        const r = await request(
          tegami.url,
          'POST',
          '/v1/webhook-endpoints',
          { url: `http://127.0.0.1:9/${owner}/${i}`, events: ['message.sent'] },
          {},
          key,
        );
        assert.equal(r.status, 201, JSON.stringify(r.body));
        endpointsOf[owner].push(r.body.id);
      }
    };
    await register('admin', undefined, 48);
    await register('hotel', hotel.key, 5);
    await register('spa', spa.key, 3);
  });
  after(async () => {
    await tegami?.stop();
  });

  /** Every page of a list, following next_cursor from the first page asked for. */
  async function pages(path: string, key?: string) {
    const out: { id: string; name?: string; unit?: string | null }[][] = [];
    let cursor: string | null = null;
    do {
      const query: string =
        cursor === null ? '' : `${path.includes('?') ? '&' : '?'}cursor=${cursor}`;
      const r = await request(tegami.url, 'GET', `${path}${query}`, undefined, {}, key);
      assert.equal(r.status, 200, `${path}${query}: ${JSON.stringify(r.body)}`);
      out.push(r.body.data);
      cursor = r.body.next_cursor;
      assert.ok(out.length <= 200, 'paging ends');
    } while (cursor !== null);
    return out;
  }

  test('GET /v1/units: 50 by name unasked, then the rest; next_cursor null on the last page', async () => {
    const unasked = await pages('/v1/units');
    assert.deepEqual(
      unasked.map((p) => p.length),
      [50, unitNames.length - 50],
    );
    assert.deepEqual(
      unasked.flat().map((u) => u.name),
      unitNames,
      'every unit once, by name',
    );
    const small = await pages('/v1/units?limit=7');
    assert.deepEqual(
      small.flat().map((u) => u.name),
      unitNames,
    );
    assert.equal(small.length, Math.ceil(unitNames.length / 7));
    const all = await request(tegami.url, 'GET', '/v1/units?limit=500');
    assert.equal(all.body.data.length, unitNames.length);
    assert.equal(all.body.next_cursor, null);
    // Each unit of a page is the unit as GET /v1/units/{id} shows it.
    const first = unasked[0]?.[0] as { id: string };
    assert.deepEqual(first, (await tegami.request('GET', `/v1/units/${first.id}`)).body);
  });

  test('GET /v1/webhook-endpoints: newest first, 50 unasked, every endpoint once', async () => {
    const every = [...endpointsOf.admin, ...endpointsOf.hotel, ...endpointsOf.spa].reverse();
    const unasked = await pages('/v1/webhook-endpoints');
    assert.deepEqual(
      unasked.map((p) => p.length),
      [50, every.length - 50],
    );
    assert.deepEqual(
      unasked.flat().map((e) => e.id),
      every,
    );
    const small = await pages('/v1/webhook-endpoints?limit=4');
    assert.deepEqual(
      small.flat().map((e) => e.id),
      every,
    );
  });

  test("a unit key pages through its own unit's endpoints only, whatever cursor it is given", async () => {
    const own = await pages('/v1/webhook-endpoints?limit=2', hotel.key);
    assert.deepEqual(
      own.map((p) => p.length),
      [2, 2, 1],
    );
    assert.deepEqual(
      own.flat().map((e) => e.id),
      [...endpointsOf.hotel].reverse(),
    );
    assert.ok(own.flat().every((e) => e.unit === 'hotel'));
    // An admin's cursor, or one naming another unit's endpoint, shows no other unit's endpoint.
    const admin = await request(tegami.url, 'GET', '/v1/webhook-endpoints?limit=1');
    const newestSpa = endpointsOf.spa.at(-1) as string;
    assert.equal(admin.body.data[0].id, newestSpa);
    const foreign = await request(
      tegami.url,
      'GET',
      `/v1/webhook-endpoints?cursor=${admin.body.next_cursor}`,
      undefined,
      {},
      hotel.key,
    );
    assert.equal(foreign.status, 200);
    assert.deepEqual(
      foreign.body.data.map((e: { id: string }) => e.id),
      [...endpointsOf.hotel].reverse(),
    );
    assert.equal(foreign.body.next_cursor, null);
    const spaOwn = await pages('/v1/webhook-endpoints', spa.key);
    assert.deepEqual(
      spaOwn.flat().map((e) => e.id),
      [...endpointsOf.spa].reverse(),
    );
    // Units stay an admin's list, paged or not.
    const refused = await request(tegami.url, 'GET', '/v1/units?limit=5', undefined, {}, hotel.key);
    assert.equal(refused.status, 403);
  });

  test('a bad limit or cursor: 400 invalid_request naming it, as on the other lists', async () => {
    const endpointCursor = (await request(tegami.url, 'GET', '/v1/webhook-endpoints?limit=1')).body
      .next_cursor as string;
    const unitCursor = (await request(tegami.url, 'GET', '/v1/units?limit=1')).body
      .next_cursor as string;
    for (const [path, otherListsCursor] of [
      ['/v1/units', endpointCursor],
      ['/v1/webhook-endpoints', unitCursor],
    ] as const) {
      for (const [query, fields] of [
        ['limit=0', ['querystring.limit']],
        ['limit=501', ['querystring.limit']],
        ['limit=05', ['querystring.limit']],
        ['cursor=bm90LWEtY3Vyc29y', ['querystring.cursor']],
        [`cursor=${otherListsCursor}`, ['querystring.cursor']],
        ['limit=abc&cursor=bm90LWEtY3Vyc29y', ['querystring.limit', 'querystring.cursor']],
      ] as const) {
        const r = await tegami.request('GET', `${path}?${query}`);
        assert.equal(r.status, 400, `${path}?${query}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'invalid_request');
        assert.deepEqual(
          r.body.error.details.map((d: { field: string }) => d.field),
          fields,
          `${path}?${query}`,
        );
      }
    }
    // Well formed, but naming no unit: units are listed by name, so it has no place in the list
    // (an empty page would read as the list's end).
    const noUnit = Buffer.from('unit_01ARZ3NDEKTSV4RRFFQ69G5FAV').toString('base64url');
    const unknown = await tegami.request('GET', `/v1/units?cursor=${noUnit}`);
    assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
    assert.deepEqual(
      unknown.body.error.details.map((d: { field: string }) => d.field),
      ['querystring.cursor'],
    );
    const messages = await tegami.request('GET', '/v1/messages?limit=0');
    const units = await tegami.request('GET', '/v1/units?limit=0');
    assert.deepEqual(units.body.error.details, messages.body.error.details, 'the same sentence');
  });
});
