import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SANDBOX_PAGE_BYTES } from '../src/http/routes/sandbox/list.ts';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';

interface Entry {
  id: string;
  message_id: string;
  mime: string;
}

/**
 * `GET /v1/sandbox/messages` renders each entry's MIME: a page is bounded by bytes as well as by
 * `limit`, so `limit=1000` of large messages cannot take gigabytes of memory, and `next_cursor`
 * leads through the rest.
 */
describe(`GET /v1/sandbox/messages paging (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  const large = 40;
  const small = 120;
  // ~600 KB of attachment each: 40 of them are ~24 MB of stored mail, more than one page.
  const attachment = Buffer.alloc(450 * 1024, 1).toString('base64');

  before(async () => {
    tegami = await startTestService();
    for (let i = 0; i < large; i++) {
      const r = await tegami.request(
        'POST',
        '/v1/messages',
        message({
          subject: `large ${i}`,
          attachments: [
            { filename: 'a.bin', content: attachment, content_type: 'application/pdf' },
          ],
        }),
      );
      assert.equal(r.status, 202);
    }
    const batch = await tegami.request('POST', '/v1/messages/batch', {
      messages: Array.from({ length: small }, (_, i) => message({ subject: `small ${i}` })),
    });
    assert.equal(batch.status, 202);
    await waitFor(
      async () =>
        Number(
          (
            await tegami.service.database.db
              .selectFrom('sandbox_messages')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ) ===
        large + small,
      'every message in the sandbox outbox',
      60_000,
    );
  });
  after(async () => {
    await tegami.stop();
  });

  async function page(query: string) {
    const r = await tegami.request('GET', `/v1/sandbox/messages?${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
    return r.body as { data: Entry[]; next_cursor: string | null };
  }

  async function all(query: string) {
    const pages: Entry[][] = [];
    let cursor: string | null = null;
    do {
      const body = await page(`${query}${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(body.data);
      cursor = body.next_cursor;
    } while (cursor && pages.length < 1_000);
    return pages;
  }

  test('limit=1000 of large messages comes in pages bounded by size; all are seen once', async () => {
    const pages = await all('limit=1000');
    assert.ok(pages.length >= 2, `${pages.length} pages`);
    for (const p of pages.slice(0, -1)) {
      const bytes = p.reduce((sum, e) => sum + e.mime.length, 0);
      // The bound is on stored bytes; rendered MIME is the same order of size.
      assert.ok(bytes <= SANDBOX_PAGE_BYTES * 1.5, `page of ${bytes} bytes`);
    }
    const ids = pages.flat().map((e) => e.id);
    assert.equal(ids.length, large + small);
    assert.equal(new Set(ids).size, ids.length, 'no entry twice');
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
    const withAttachment = pages.flat().filter((e) => e.mime.includes('filename=a.bin'));
    assert.equal(withAttachment.length, large, 'each large message with its MIME');
  });

  test('small messages: pages of `limit`', async () => {
    const pages = await all('limit=50');
    const sizes = pages.map((p) => p.length);
    // The 120 small ones are the newest: two full pages of them, then size decides.
    assert.deepEqual(sizes.slice(0, 2), [50, 50], 'count-bound while messages are small');
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      large + small,
    );
  });

  test('message_id narrows the pages; a cursor the API did not return is a 400', async () => {
    const first = (await page('limit=1')).data[0] as Entry;
    const only = await page(`message_id=${first.message_id}`);
    assert.deepEqual(
      only.data.map((e) => e.id),
      [first.id],
    );
    assert.equal(only.next_cursor, null);
    for (const cursor of ['nope', Buffer.from('msg_x').toString('base64url'), '']) {
      const r = await tegami.request('GET', `/v1/sandbox/messages?cursor=${cursor}`);
      assert.equal(r.status, 400, cursor);
      assert.equal(r.body.error.details[0].field, 'querystring.cursor');
    }
  });
});
