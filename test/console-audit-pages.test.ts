import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { idCursor } from '../src/http/paging.ts';
import { startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The audit log page, 100 events a page (**Older events →**, by the id of the last one shown),
 * walked as an admin follows its links; a page link no page made (`older` not an event's id) is
 * refused with 400 and says so, as the API refuses a cursor it did not give.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

/** Units created here: with the start's own events, two pages of the audit log. */
const CREATED = 110;

describe(`console audit log, a page at a time (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;

  /** The "Older events" link of an audit log page, as a path. */
  function olderLink(text: string): string | null {
    const link = /<a href="([^"]+)" rel="next">Older events →<\/a>/.exec(text)?.[1];
    return link === undefined ? null : link.replaceAll('&amp;', '&');
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
    });
    for (let i = 0; i < CREATED; i++) {
      const r = await tegami.request('POST', '/v1/units', { name: `shop-${i}` });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test('the older page a link names is shown, with the filter kept', async () => {
    const first = await admin.get('/console/audit?action=unit.create');
    assert.equal(first.status, 200);
    const older = olderLink(first.text);
    assert.match(older ?? '', /^\/console\/audit\?action=unit\.create&older=aud_[0-9A-Z]{26}$/);
    const second = await admin.get(older as string);
    assert.equal(second.status, 200, second.text.slice(0, 300));
    // 110 units: 100 on the first page, the 10 made first on the second, and no link further.
    assert.equal(second.text.match(/<td>unit\.create<\/td>/g)?.length, CREATED - 100);
    assert.equal(olderLink(second.text), null);
  });

  test('a page link no page made is refused with 400, and says so', async () => {
    const api = await tegami.request('GET', '/v1/audit-events?limit=1');
    const event = api.body.data[0].id as string;
    for (const older of [
      'garbage',
      `${event}x`,
      event.toLowerCase(),
      'alt_01JB8ZQ4W5X3C2V1N0M9K8J7H6',
      // The API's cursor is not the page's link.
      idCursor(event),
    ]) {
      const r = await admin.get(`/console/audit?older=${encodeURIComponent(older)}`);
      assert.equal(r.status, 400, `${older}: ${r.text.slice(0, 300)}`);
      assert.match(
        r.text,
        /<p class="error" role="alert">That page of the audit log does not exist\./,
      );
      assert.doesNotMatch(r.text, /<table class="list">/, 'no events are listed');
    }
    // An event pruned since (an id no event has now) still names a place in the log.
    const gone = await admin.get(`/console/audit?older=aud_${'0'.repeat(26)}`);
    assert.equal(gone.status, 200);
    assert.match(gone.text, /No older event matches\./);
    const later = await admin.get(`/console/audit?older=aud_${'Z'.repeat(26)}`);
    assert.equal(later.status, 200);
    assert.match(later.text, /<td>unit\.create<\/td>/);
  });

  test('GET /v1/audit-events refuses a cursor it did not give with 400, and pages with its own', async () => {
    const page = await tegami.request('GET', '/v1/audit-events?limit=100');
    assert.equal(page.status, 200);
    const cursor = page.body.next_cursor as string;
    const next = await tegami.request('GET', `/v1/audit-events?limit=100&cursor=${cursor}`);
    assert.equal(next.status, 200);
    assert.ok(next.body.data.length > 0);
    const last = page.body.data.at(-1).id as string;
    for (const bad of [
      'xyz',
      '',
      'aud_01',
      idCursor(`${last}x`),
      idCursor('alt_01JB8ZQ4W5X3C2V1N0M9K8J7H6'),
      // The console's link is not the API's cursor.
      last,
      '%ff%fe',
    ]) {
      const r = await tegami.request('GET', `/v1/audit-events?cursor=${bad}`);
      assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.deepEqual(
        r.body.error.details.map((d: { field: string }) => d.field),
        ['querystring.cursor'],
      );
    }
  });
});
