import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestService, TEST_ENGINE, type TestService } from './helpers.ts';

/** `GET /v1/suppressions` pages like `GET /v1/messages`: `next_cursor` back as `cursor`. */
describe(`GET /v1/suppressions paging (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const total = 2_345;
  const base = Date.now() - 3_600_000;

  before(async () => {
    tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    // Many entries share a time, as those of one webhook batch do: the cursor must order ties.
    const rows = Array.from({ length: total }, (_, i) => {
      const email = `Guest${String(i).padStart(5, '0')}@Example.com`;
      return {
        email_normalized: email.toLowerCase(),
        email,
        reason: 'bounce',
        source: 'event',
        event_key: `sendgrid:page-${i}`,
        detail: null,
        created_at: base + Math.floor(i / 100),
      };
    });
    for (let i = 0; i < rows.length; i += 500) {
      await tegami.service.database.db
        .insertInto('suppressions')
        .values(rows.slice(i, i + 500))
        .execute();
    }
  });
  after(async () => {
    await tegami.stop();
  });

  async function all(limit: number, extra = '') {
    const pages: { email: string; created_at: string }[][] = [];
    let cursor: string | null = null;
    do {
      const query = `limit=${limit}${extra}${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await tegami.request('GET', `/v1/suppressions?${query}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      pages.push(r.body.data);
      cursor = r.body.next_cursor;
      assert.ok(pages.length <= total + 1, 'paging ends');
    } while (cursor);
    return pages;
  }

  test(`more than 1,000 entries: every one exactly once, newest first`, async () => {
    const pages = await all(1_000);
    assert.deepEqual(
      pages.map((p) => p.length),
      [1_000, 1_000, 345],
    );
    const emails = pages.flat().map((e) => e.email);
    assert.equal(new Set(emails).size, total);
    // Newest first; within one time, by address descending (the order of the index).
    const expected = Array.from(
      { length: total },
      (_, i) => `Guest${String(i).padStart(5, '0')}@Example.com`,
    ).sort((a, b) => {
      const ta = Math.floor(Number(a.slice(5, 10)) / 100);
      const tb = Math.floor(Number(b.slice(5, 10)) / 100);
      return tb - ta || (a < b ? 1 : -1);
    });
    assert.deepEqual(emails, expected);
  });

  test('small pages across ties lose and repeat nothing', async () => {
    const pages = await all(37);
    const emails = pages.flat().map((e) => e.email);
    assert.equal(emails.length, total);
    assert.equal(new Set(emails).size, total);
    assert.equal(pages.at(-1)?.length, total % 37);
  });

  test('the last page says so; a look-up by address has no next page', async () => {
    const exact = await tegami.request('GET', '/v1/suppressions?email=guest00042@example.com');
    assert.equal(exact.status, 200);
    assert.equal(exact.body.data.length, 1);
    assert.equal(exact.body.next_cursor, null);
    const everything = await tegami.request('GET', '/v1/suppressions?limit=1000&cursor=');
    assert.equal(everything.status, 400, 'an empty cursor is not one');
  });

  test('a cursor the API did not return is a 400 naming the field', async () => {
    const made = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const cursor of [
      'not-a-cursor',
      made([1.5, 'a']),
      made(['1', 'a']),
      made([1e21, 'a']),
      made([1]),
      made({ createdAt: 1, email: 'a' }),
      made([1, 2]),
      made([1, 'a', 2]),
      made([1, 'a', 'b', 'c']),
      made([1, 'a\u0000']),
      made([1, 'a', 'unit\u0000']),
      'x'.repeat(2_001),
    ]) {
      const r = await tegami.request(
        'GET',
        `/v1/suppressions?cursor=${encodeURIComponent(cursor)}`,
      );
      assert.equal(r.status, 400, cursor);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.details[0].field, 'querystring.cursor');
    }
  });
});
