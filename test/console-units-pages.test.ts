import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The console's units page, a page of 50 units at a time by name (**Next units →**), walked as
 * an admin follows its links: every unit once, in the API's order; a cursor no link made refused
 * with 400; a unit's alert form answered on the page it was on.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

/** Units created here; with `default`, two whole pages of 50 and a third of 6. */
const CREATED = 105;

describe(`console units page, a page at a time (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  /** Every unit's id and name, in the order the API lists them (by name). */
  let all: { id: string; name: string }[] = [];

  /** The unit ids of a units page's rows, top to bottom, and its "Next units" link. */
  function rowsOf(text: string): { ids: string[]; next: string | null } {
    const ids = [...text.matchAll(/<tr id="unit-(unit_[0-9A-Z]{26})">/g)].map((m) => m[1] ?? '');
    const next = /<a href="([^"]+)" rel="next">Next units →<\/a>/.exec(text)?.[1] ?? null;
    return { ids, next: next === null ? null : next.replaceAll('&amp;', '&') };
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
    });
    // Created out of name order, so that the pages' order is the names', not the ids'.
    for (let i = CREATED - 1; i >= 0; i--) {
      const r = await tegami.request('POST', '/v1/units', {
        name: `shop-${String(i).padStart(3, '0')}`,
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const listed = await tegami.request('GET', '/v1/units?limit=500');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    all = (listed.body.data as { id: string; name: string }[]).map(({ id, name }) => ({
      id,
      name,
    }));
    assert.equal(all.length, CREATED + 1, 'the units made here and default');
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test('the pages hold 50, 50 and 6 units: every unit once, in name order, the last without a next link', async () => {
    const pages: string[][] = [];
    let path: string | null = '/console/units';
    while (path !== null) {
      const r = await admin.get(path);
      assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 300)}`);
      const { ids, next } = rowsOf(r.text);
      pages.push(ids);
      assert.ok(pages.length <= 3, 'the pages end');
      path = next;
    }
    assert.deepEqual(
      pages.map((p) => p.length),
      [50, 50, 6],
    );
    assert.deepEqual(
      pages.flat(),
      all.map((u) => u.id),
    );
    // Each page's link names the last unit shown, as the messages' and the audit log's do.
    const first = await admin.get('/console/units');
    assert.equal(rowsOf(first.text).next, `/console/units?after=${all[49]?.id}`);
    // An empty cursor is the first page (the forms of the first page send none).
    assert.deepEqual(rowsOf((await admin.get('/console/units?after=')).text).ids, pages[0]);
  });

  test('a cursor no page link made is refused with 400, and says so', async () => {
    const unknown = `unit_${'0'.repeat(26)}`;
    for (const after of ['garbage', unknown, 'msg_01JB8ZQ4W5X3C2V1N0M9K8J7H6', `${all[0]?.id}x`]) {
      const r = await admin.get(`/console/units?after=${encodeURIComponent(after)}`);
      assert.equal(r.status, 400, `${after}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /That page of units does not exist\./);
    }
    const twice = await admin.get(`/console/units?after=${all[0]?.id}&after=${all[1]?.id}`);
    assert.equal(twice.status, 400);
    assert.match(twice.text, /after: give it once\./);
    // A form that names no page of units changes nothing.
    const unit = all[60] as { id: string };
    const refused = await admin.post(`/console/units/${unit.id}/alerts`, {
      dead_letters: '9',
      after: unknown,
    });
    assert.equal(refused.status, 400, refused.text.slice(0, 300));
    assert.match(refused.text, /That page of units does not exist\./);
    const unchanged = await tegami.request('GET', `/v1/units/${unit.id}`);
    assert.deepEqual(unchanged.body.alerts.thresholds, {});
    const created = await admin.post('/console/units', { name: 'never-made', after: 'garbage' });
    assert.equal(created.status, 400, created.text.slice(0, 300));
    const names = await tegami.request('GET', '/v1/units?limit=500');
    assert.equal(names.body.data.length, CREATED + 1, 'no unit was created');
  });

  test("a unit's alert form on the second page is answered on the second page", async () => {
    const after = all[49]?.id as string;
    const unit = all[60] as { id: string; name: string };
    const second = await admin.get(`/console/units?after=${after}`);
    assert.ok(
      second.text.includes(
        `action="/console/units/${unit.id}/alerts#unit-${unit.id}" class="inline-form"><input type="hidden" name="_csrf"`,
      ),
      'its form is on the second page',
    );
    assert.match(second.text, new RegExp(`<input type="hidden" name="after" value="${after}">`));
    const saved = await admin.post(`/console/units/${unit.id}/alerts`, {
      dead_letters: '9',
      after,
    });
    assert.equal(saved.status, 303, saved.text.slice(0, 300));
    assert.equal(saved.location, `/console/units?after=${after}`);
    const api = await tegami.request('GET', `/v1/units/${unit.id}`);
    assert.deepEqual(api.body.alerts.thresholds, { dead_letters: 9 });
    // Refused: the same page again, what is wrong said in the unit's row.
    const refused = await admin.post(`/console/units/${unit.id}/alerts`, {
      delay_s: 'soon',
      after,
    });
    assert.equal(refused.status, 400);
    assert.deepEqual(
      rowsOf(refused.text).ids,
      all.slice(50, 100).map((u) => u.id),
    );
    const row = refused.text.split(/<tr /).find((r) => r.startsWith(`id="unit-${unit.id}"`));
    assert.ok(row, 'the row is there');
    assert.ok(row.includes(`role="alert" id="unit-alerts-error-${unit.id}"`), 'its refusal');
    assert.match(row, /“Delay alert after \(s\)” must be a whole number of seconds/);
  });

  test('a refused form sent without its page is answered on the page that begins at its unit', async () => {
    const unit = all[103] as { id: string };
    const refused = await admin.post(`/console/units/${unit.id}/alerts`, { dead_letters: '-1' });
    assert.equal(refused.status, 400);
    const { ids, next } = rowsOf(refused.text);
    assert.deepEqual(
      ids,
      all.slice(103).map((u) => u.id),
    );
    assert.equal(next, null);
    assert.match(refused.text, /“Dead letters over” must be a whole number from 0/);
  });

  test('a refused form of the unit just past a page (the row read only to know of a next page) is answered where it is drawn', async () => {
    // The first page reads 51 units and draws 50: the 51st's form, sent from page one after a
    // unit named before it was made, must not come back on a page that does not show it.
    const unit = all[50] as { id: string };
    const refused = await admin.post(`/console/units/${unit.id}/alerts`, { delay_s: 'soon' });
    assert.equal(refused.status, 400);
    assert.deepEqual(
      rowsOf(refused.text).ids,
      all.slice(50, 100).map((u) => u.id),
    );
    assert.ok(refused.text.includes(`role="alert" id="unit-alerts-error-${unit.id}"`));
  });

  /** The notice of a units page that a unit was created, as it reads, or null. */
  function createdNotice(text: string): string | null {
    const notice = /<div class="card notice" role="status" id="unit-created">(.*?)<\/div>/s.exec(
      text,
    )?.[1];
    return notice === undefined ? null : notice.replace(/<[^>]+>/g, '').trim();
  }

  /** Creates a unit from the page `after` (none: the first); where the answer sends the admin. */
  async function create(name: string, after?: string): Promise<{ id: string; location: string }> {
    const r = await admin.post('/console/units', { name, ...(after ? { after } : {}) });
    assert.equal(r.status, 303, r.text.slice(0, 300));
    const found = await tegami.request('GET', `/v1/units/${name}`);
    assert.equal(found.status, 200, 'it was created');
    return { id: found.body.id as string, location: r.location ?? '' };
  }

  // Last: the units created here move the others' pages.
  test('a unit created is answered on a page that draws it, which says it was created', async () => {
    // From the first page, named far past it (after shop-060, which is on the second page): the
    // page that begins at it.
    const far = await create('shop-060x');
    const before = all.find((u) => u.name === 'shop-060') as { id: string };
    assert.equal(far.location, `/console/units?after=${before.id}&created=${far.id}`);
    const there = await admin.get(far.location);
    assert.equal(there.status, 200);
    assert.equal(rowsOf(there.text).ids[0], far.id, 'the page begins at the new unit');
    assert.equal(createdNotice(there.text), 'Created unit shop-060x.');
    assert.ok(there.text.includes(`<a href="#unit-${far.id}"><strong>shop-060x</strong></a>`));
    // From the second page, named within it: the same page.
    const second = all[49]?.id as string;
    const near = await create('shop-070x', second);
    assert.equal(near.location, `/console/units?after=${second}&created=${near.id}`);
    const same = await admin.get(near.location);
    assert.ok(rowsOf(same.text).ids.includes(near.id));
    assert.equal(createdNotice(same.text), 'Created unit shop-070x.');
    // From the second page, named before every unit: the first page.
    const first = await create('aaa', second);
    assert.equal(first.location, `/console/units?created=${first.id}`);
    const top = await admin.get(first.location);
    assert.equal(rowsOf(top.text).ids[0], first.id);
    assert.equal(createdNotice(top.text), 'Created unit aaa.');
    // A page without a unit just created says none was.
    assert.equal(createdNotice((await admin.get('/console/units')).text), null);
  });

  test('the notice says the name the units hold, whatever the link: one naming no unit is refused with 400', async () => {
    const shop = all[3] as { id: string; name: string };
    const named = await admin.get(`/console/units?created=${shop.id}`);
    assert.equal(named.status, 200);
    assert.equal(createdNotice(named.text), `Created unit ${shop.name}.`);
    // Not on this page: said, without a link to a row that is not there.
    const elsewhere = all[80] as { id: string; name: string };
    const far = await admin.get(`/console/units?created=${elsewhere.id}`);
    assert.equal(createdNotice(far.text), `Created unit ${elsewhere.name}.`);
    assert.ok(!far.text.includes(`href="#unit-${elsewhere.id}"`));
    for (const created of ['Hacked: send your password', `unit_${'0'.repeat(26)}`, `${shop.id}x`]) {
      const r = await admin.get(`/console/units?created=${encodeURIComponent(created)}`);
      assert.equal(r.status, 400, `${created}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /<p class="error" role="alert">That unit does not exist\./);
      assert.ok(!r.text.includes('Hacked'), 'the link is not shown back');
    }
  });
});
