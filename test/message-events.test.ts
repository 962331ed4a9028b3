import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EVENTS_SHOWN_PER_RECIPIENT } from '../src/domain/delivery-event-limits.ts';
import {
  createUnitWithKey,
  message,
  postUnsignedEvents,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
} from './helpers.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';
const BASE_TIME = 1_800_000_000;

interface ShownEvent {
  email?: string;
  event: string;
  occurred_at: string;
  matches_recipient?: boolean;
  payload: { sg_event_id: string };
}

const idsOf = (events: ShownEvent[]) => events.map((e) => e.payload.sg_event_id);
const encode = (text: string) => Buffer.from(text).toString('base64url');

/**
 * A message's delivery events stay readable however many there are: its read shows each
 * recipient's newest EVENTS_SHOWN_PER_RECIPIENT and says how many there are, a paged endpoint
 * reads them all, and events whose address is none of its recipients' are shown, labelled so,
 * to the message's unit only.
 */
describe(`a message's delivery events, bounded and complete (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  const keys: Record<string, string> = {};

  before(async () => {
    tegami = await startTestService({
      TEGAMI_TEST_NO_WORKER: '1',
      TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    const unitIds: Record<string, string> = {};
    for (const name of ['hotel', 'shop']) {
      const unit = await createUnitWithKey(tegami, name);
      unitIds[name] = unit.id;
      keys[name] = unit.key;
    }
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const user = await admin.post('/console/users', {
      email: 'shop@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: unitIds.shop as string,
      bodies: '1',
    });
    assert.equal(user.status, 303, user.text);
  });
  after(async () => {
    await tegami?.stop();
  });

  async function submitAs(unit: string, to: string[]): Promise<string> {
    const r = await request(
      tegami.url,
      'POST',
      '/v1/messages',
      message({ to: to.map((email) => ({ email })) }),
      {},
      keys[unit],
    );
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id as string;
  }

  /** Every event of a message through `GET /v1/messages/{id}/events`, `limit` at a time. */
  async function readAll(id: string, limit: number, key?: string) {
    const events: ShownEvent[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await request(
        tegami.url,
        'GET',
        `/v1/messages/${id}/events?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
        undefined,
        {},
        key,
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.data.length <= limit);
      events.push(...r.body.data);
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    return { events, pages };
  }

  test('the message shows the newest events of each recipient and how many there are', async () => {
    const id = await submitAs('hotel', ['guest@example.com', 'second@example.com']);
    const many = Array.from({ length: 250 }, (_, i) => ({
      email: 'guest@example.com',
      event: i % 2 ? 'click' : 'open',
      timestamp: BASE_TIME + i,
      sg_event_id: `cap-${String(i).padStart(3, '0')}`,
      tegami_message_id: id,
    }));
    await postUnsignedEvents(tegami.url, many);
    await postUnsignedEvents(
      tegami.url,
      ['processed', 'delivered', 'open'].map((event, i) => ({
        email: 'second@example.com',
        event,
        timestamp: BASE_TIME + i,
        sg_event_id: `cap-second-${i}`,
        tegami_message_id: id,
      })),
    );
    const m = await request(tegami.url, 'GET', `/v1/messages/${id}`, undefined, {}, keys.hotel);
    assert.equal(m.status, 200);
    const [guest, second] = m.body.recipients;
    assert.equal(guest.events.length, EVENTS_SHOWN_PER_RECIPIENT);
    assert.equal(guest.events_total, 250);
    assert.equal(guest.events_truncated, true);
    assert.deepEqual(
      idsOf(guest.events),
      many.slice(-EVENTS_SHOWN_PER_RECIPIENT).map((e) => e.sg_event_id),
      'the newest ones, oldest first',
    );
    assert.deepEqual(idsOf(second.events), ['cap-second-0', 'cap-second-1', 'cap-second-2']);
    assert.equal(second.events_total, 3);
    assert.equal(second.events_truncated, false);
    assert.deepEqual(m.body.unmatched_recipient_events, []);
    assert.equal(m.body.unmatched_recipient_events_total, 0);
    assert.equal(m.body.unmatched_recipient_events_truncated, false);

    const all = await readAll(id, 100, keys.hotel);
    assert.equal(all.events.length, 253);
    assert.equal(all.pages, 3);
    assert.equal(new Set(idsOf(all.events)).size, 253, 'no event twice');
    assert.ok(all.events.every((e) => e.matches_recipient === true));
    assert.deepEqual(
      idsOf(all.events.filter((e) => e.email === 'guest@example.com')).slice(
        0,
        EVENTS_SHOWN_PER_RECIPIENT,
      ),
      idsOf(guest.events).reverse(),
      "the first page holds the message's newest events, newest first",
    );

    // The console shows the same newest events, says how many more there are, and pages them.
    const page = await admin.get(`/console/messages/${id}`);
    assert.equal(page.status, 200);
    assert.equal((page.text.match(/<strong>Event /g) ?? []).length, 103);
    assert.match(page.text, /150 older delivery events are not shown/);
    const link = /href="(\/console\/messages\/[^"]+\/events)"/.exec(page.text)?.[1];
    assert.equal(link, `/console/messages/${id}/events`);
    let next: string | undefined = link;
    let shown = 0;
    let pages = 0;
    while (next) {
      const events = await admin.get(next.replaceAll('&amp;', '&'));
      assert.equal(events.status, 200);
      shown += (events.text.match(/<strong>Event /g) ?? []).length;
      pages++;
      next = /href="([^"]+)" rel="next"/.exec(events.text)?.[1];
    }
    assert.deepEqual([shown, pages], [253, 3]);
  });

  test('pages read every event once, in one order, while more arrive', async () => {
    const id = await submitAs('hotel', ['guest@example.com']);
    // Many events per second, of one type or several: every part of the order decides somewhere.
    const types = ['click', 'open', 'delivered', 'custom', 'processed', 'deferred', 'open'];
    const events = Array.from({ length: 70 }, (_, i) => ({
      email: 'guest@example.com',
      event: types[i % types.length] as string,
      timestamp: BASE_TIME + Math.floor(i / 10),
      sg_event_id: `order-${String((i * 37) % 70).padStart(2, '0')}`,
      tegami_message_id: id,
    }));
    await postUnsignedEvents(tegami.url, events);
    const natural = ['processed', 'dropped', 'deferred', 'delivered', 'bounce', 'open', 'click'];
    const rank = (event: string) => (natural.includes(event) ? natural.indexOf(event) : 7);
    const expected = [...events]
      .sort(
        (a, b) =>
          b.timestamp - a.timestamp ||
          rank(b.event) - rank(a.event) ||
          (b.sg_event_id < a.sg_event_id ? -1 : 1),
      )
      .map((e) => e.sg_event_id);

    const first = await tegami.request('GET', `/v1/messages/${id}/events?limit=7`);
    assert.equal(first.status, 200);
    // Arriving between pages: one newer than all, one as old as the page boundary.
    await postUnsignedEvents(
      tegami.url,
      [BASE_TIME + 100, BASE_TIME + 6].map((timestamp, i) => ({
        email: 'guest@example.com',
        event: 'open',
        timestamp,
        sg_event_id: `order-late-${i}`,
        tegami_message_id: id,
      })),
    );
    const seen = [...idsOf(first.body.data)];
    let cursor: string | null = first.body.next_cursor;
    while (cursor) {
      const r = await tegami.request('GET', `/v1/messages/${id}/events?limit=7&cursor=${cursor}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      seen.push(...idsOf(r.body.data));
      cursor = r.body.next_cursor;
    }
    assert.deepEqual(
      seen.filter((s) => !s.startsWith('order-late-')),
      expected,
      'newest first; within a second in the natural order, then by arrival and key',
    );
    assert.equal(new Set(seen).size, seen.length, 'no event twice');
    assert.ok(!seen.includes('order-late-0'), 'a newer event is before the first page');
    // As old as the first page's last event, but before it in the order (an open after a
    // deferral of the same second): on no later page either.
    assert.ok(!seen.includes('order-late-1'), 'an event before the cursor is not on a later page');

    const again = await readAll(id, 500);
    assert.deepEqual(idsOf(again.events).slice(0, 1), ['order-late-0']);
    assert.equal(again.events.length, 72);
    assert.equal(again.pages, 1);
  });

  test('bad paging input is a 400 naming the field; an unknown message a 404', async () => {
    const id = await submitAs('hotel', ['guest@example.com']);
    await postUnsignedEvents(tegami.url, [
      { email: 'guest@example.com', event: 'open', tegami_message_id: id },
    ]);
    const bad: [string, string][] = [
      ['limit=0', 'querystring.limit'],
      ['limit=501', 'querystring.limit'],
      ['limit=abc', 'querystring.limit'],
      ['limit=-1', 'querystring.limit'],
      ['limit=1.5', 'querystring.limit'],
      ['limit=', 'querystring.limit'],
      ['cursor=not*a*cursor', 'querystring.cursor'],
      ['cursor=', 'querystring.cursor'],
      [`cursor=${encode('hello')}`, 'querystring.cursor'],
      [`cursor=${encode('99999999999999999999:0:1:sendgrid:x')}`, 'querystring.cursor'],
      [`cursor=${encode('1800000000000:0:1800000000000:a\u0000b')}`, 'querystring.cursor'],
      [`cursor=${encode('1800000000000:0:1800000000000:')}`, 'querystring.cursor'],
      [`cursor=${encode('1e12:0:1:sendgrid:x')}`, 'querystring.cursor'],
      [`cursor=${'A'.repeat(2001)}`, 'querystring.cursor'],
      ['order=oldest', 'querystring.order'],
    ];
    for (const [query, field] of bad) {
      const r = await tegami.request('GET', `/v1/messages/${id}/events?${query}`);
      assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request', query);
      assert.ok(
        r.body.error.details.some((d: { field: string }) => d.field === field),
        `${query}: ${JSON.stringify(r.body.error.details)}`,
      );
    }
    // Cursors this API could have made, for times and keys of any kind, are read, never a 5xx.
    for (const odd of [
      '-5:0:-5:sendgrid:x',
      '253402300799999:7:253402300799999:sendgrid:é💥',
      '0:99:0:sendgrid:x',
    ]) {
      const r = await tegami.request('GET', `/v1/messages/${id}/events?cursor=${encode(odd)}`);
      assert.equal(r.status, 200, `${odd}: ${JSON.stringify(r.body)}`);
    }
    const unknown = await tegami.request(
      'GET',
      '/v1/messages/msg_0000000000000000000000000/events',
    );
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'not_found');
    for (const path of ['/v1/messages/msg_%00/events', `/v1/messages/${id}/events?cursor=%00`]) {
      const r = await tegami.request('GET', path);
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
    }
    const bareCursor = await admin.get(`/console/messages/${id}/events?before=nonsense`);
    assert.equal(bareCursor.status, 400);
    const nulId = await admin.get('/console/messages/msg_%00/events');
    assert.ok(nulId.status === 400 || nulId.status === 404, `console: ${nulId.status}`);
  });

  test('events matching no recipient are shown, labelled, to the message unit only', async () => {
    const id = await submitAs('hotel', ['guest@example.com']);
    const event = (email: string, name: string, sgId: string) => ({
      email,
      event: name,
      timestamp: BASE_TIME,
      sg_event_id: sgId,
      tegami_message_id: id,
    });
    await postUnsignedEvents(tegami.url, [
      event('Guest@Example.COM', 'delivered', 'other-case'),
      event('guest+promo@example.com', 'open', 'other-plus'),
      event('concierge@forwarder.example', 'bounce', 'other-forwarded'),
    ]);
    const m = await request(tegami.url, 'GET', `/v1/messages/${id}`, undefined, {}, keys.hotel);
    assert.equal(m.status, 200);
    const guest = m.body.recipients[0];
    assert.deepEqual(idsOf(guest.events), ['other-case'], 'case does not matter');
    assert.equal(guest.delivery_status, 'delivered', "another address's bounce changes nothing");
    assert.deepEqual(
      m.body.unmatched_recipient_events.map((e: ShownEvent) => [e.email, e.event]),
      [
        ['concierge@forwarder.example', 'bounce'],
        ['guest+promo@example.com', 'open'],
      ],
      'oldest first; within one second a bounce comes before an open',
    );
    assert.equal(m.body.unmatched_recipient_events_total, 2);
    assert.equal(m.body.unmatched_recipient_events_truncated, false);

    const page = await request(
      tegami.url,
      'GET',
      `/v1/messages/${id}/events`,
      undefined,
      {},
      keys.hotel,
    );
    assert.deepEqual(
      Object.fromEntries(
        page.body.data.map((e: ShownEvent) => [e.payload.sg_event_id, e.matches_recipient]),
      ),
      { 'other-case': true, 'other-plus': false, 'other-forwarded': false },
    );

    // Another unit's key or user cannot tell the message or its events exist.
    for (const path of [`/v1/messages/${id}`, `/v1/messages/${id}/events`]) {
      const r = await request(tegami.url, 'GET', path, undefined, {}, keys.shop);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(JSON.stringify(r.body), /forwarder/);
    }
    const shopUser = await signIn(tegami.url, 'shop@example.jp', PASSWORD);
    for (const path of [`/console/messages/${id}`, `/console/messages/${id}/events`]) {
      const r = await shopUser.get(path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(r.text, /forwarder/);
    }

    const html = (await admin.get(`/console/messages/${id}`)).text;
    assert.match(
      html,
      /for concierge@forwarder\.example <span class="badge[^"]*">not matched to a recipient<\/span>/,
    );
    assert.doesNotMatch(html, /for guest@example\.com <span class="badge/);
    assert.doesNotMatch(html, /older delivery events? (is|are) not shown/);
    const eventsPage = (await admin.get(`/console/messages/${id}/events`)).text;
    assert.equal((eventsPage.match(/not matched to a recipient/g) ?? []).length, 2);

    // Many of them (a sender posting for made-up addresses) are bounded together.
    await postUnsignedEvents(
      tegami.url,
      Array.from({ length: 120 }, (_, i) => ({
        email: `made-up-${i}@elsewhere.example`,
        event: 'open',
        timestamp: BASE_TIME + 1 + i,
        sg_event_id: `other-many-${i}`,
        tegami_message_id: id,
      })),
    );
    const bounded = await tegami.request('GET', `/v1/messages/${id}`);
    assert.equal(bounded.body.unmatched_recipient_events.length, EVENTS_SHOWN_PER_RECIPIENT);
    assert.equal(bounded.body.unmatched_recipient_events_total, 122);
    assert.equal(bounded.body.unmatched_recipient_events_truncated, true);
    assert.equal(
      bounded.body.unmatched_recipient_events.at(-1).email,
      'made-up-119@elsewhere.example',
    );
    assert.deepEqual(idsOf(bounded.body.recipients[0].events), ['other-case']);
    assert.equal((await readAll(id, 50)).events.length, 123);
  });
});
