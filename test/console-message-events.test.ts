import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningSimulator } from '../src/simulator/index.ts';
import { message, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { signIn } from './support/console.ts';
import { type SignedEventsSetup, startWithSignedEvents } from './support/signed-events.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const SG_KEY = 'SG.message-events';

/**
 * A message's page tells support what the guest's mail server said, without opening a JSON
 * payload: a bounce's reason and a block (not a bounce: the address exists) in SendGrid's words,
 * as the API's `events[].detail` and `delivery_status` do. A retry keeps the search it came from.
 */
describe(`console: a message's delivery events in words (${TEST_ENGINE})`, () => {
  let setup: SignedEventsSetup;
  let simulator: RunningSimulator;
  let tegami: TestService;

  before(async () => {
    setup = await startWithSignedEvents({
      apiKey: SG_KEY,
      env: { TEGAMI_ADMIN_EMAIL: ADMIN.email, TEGAMI_ADMIN_PASSWORD: ADMIN.password },
    });
    ({ simulator, tegami } = setup);
  });
  after(async () => {
    await setup?.stop();
  });

  async function submitUntil(to: string, status: string): Promise<string> {
    const r = await tegami.request('POST', '/v1/messages', message({ to: [{ email: to }] }));
    assert.equal(r.status, 202);
    await waitFor(
      async () =>
        (await tegami.request('GET', `/v1/messages/${r.body.id}`)).body.recipients[0]
          ?.delivery_status === status,
      `${to}: ${status}`,
    );
    return r.body.id as string;
  }

  test("a bounce shows its reason, a block is called blocked, with the provider's words", async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const bounced = await submitUntil('bounce@example.jp', 'bounced');
    const blocked = await submitUntil('block@example.jp', 'blocked');

    const bouncePage = (await admin.get(`/console/messages/${bounced}`)).text;
    assert.match(bouncePage, /<strong>Event <a[^>]*>bounced<\/a><\/strong>/);
    assert.match(
      bouncePage,
      /<div>550 5\.1\.1 The email account that you tried to reach does not exist\.<\/div>/,
      "the bounce's reason is on the page, not only in the payload",
    );

    const blockPage = (await admin.get(`/console/messages/${blocked}`)).text;
    assert.match(blockPage, /<strong>Event <a[^>]*title="search event:blocked"[^>]*>blocked<\/a>/);
    assert.doesNotMatch(blockPage, />bounced<\/a>/, 'a block is not called a bounce');
    assert.match(blockPage, /<div>554 5\.7\.1 [^<]+<\/div>/);
  });

  test("one word per delivery event on every page, with the provider's own name beside it", async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const bounced = await submitUntil('bounce+words@example.jp', 'bounced');
    const blocked = await submitUntil('block+words@example.jp', 'blocked');
    const opened = await submitUntil('open+words@example.jp', 'delivered');
    await waitFor(
      async () =>
        (await tegami.request('GET', `/v1/messages/${opened}`)).body.recipients[0]?.events.some(
          (e: { event: string }) => e.event === 'open',
        ),
      'the open event',
    );

    // The timeline names each event as the recipients' table and `event:` do, SendGrid's name
    // beside it where it differs; each `event:` link is a search that works.
    const bouncePage = (await admin.get(`/console/messages/${bounced}`)).text;
    assert.match(
      bouncePage,
      /<strong>Event <a[^>]*title="search event:bounced"[^>]*>bounced<\/a><\/strong> <span class="muted raw-event">\(the provider calls it <code>bounce<\/code>\)<\/span>/,
    );
    assert.match(
      bouncePage,
      /<strong>Event <a[^>]*title="search event:accepted"[^>]*>accepted<\/a><\/strong> <span class="muted raw-event">\(the provider calls it <code>processed<\/code>\)/,
    );
    assert.match(bouncePage, /<td>sent<\/td><td>bounced <time/, "the recipient's delivery status");
    const blockPage = (await admin.get(`/console/messages/${blocked}`)).text;
    assert.match(blockPage, /\(the provider calls it <code>bounce of type blocked<\/code>\)/);
    const openPage = (await admin.get(`/console/messages/${opened}`)).text;
    assert.match(
      openPage,
      /<strong>Event opened<\/strong> <span class="muted raw-event">\(the provider calls it <code>open<\/code>\)/,
    );
    assert.match(
      openPage,
      /<strong>Event <a[^>]*>delivered<\/a><\/strong> for/,
      'no aside where the words are the same',
    );
    const links = [bouncePage, blockPage, openPage].flatMap((page) =>
      [...page.matchAll(/<a class="filter" href="([^"]+)" title="search event:/g)].map((m) =>
        (m[1] as string).replace(/&amp;/g, '&'),
      ),
    );
    assert.ok(links.length >= 6, `${links.length} event links`);
    for (const link of links) {
      const found = await admin.get(link);
      assert.equal(found.status, 200, link);
      assert.doesNotMatch(found.text, /class="error"/, `${link} is a search that works`);
    }
    const search = await admin.get(
      `/console/messages?q=${encodeURIComponent('event:bounced to:bounce+words@example.jp')}`,
    );
    assert.match(search.text, /<span class="badge d-bounced">bounced<\/span>/);

    // The overview counts delivery outcomes in the same words: a block is not a bounce.
    const overview = (await admin.get('/console')).text;
    assert.match(overview, /<tr><td>bounced<\/td><td class="num">[1-9]/);
    assert.match(overview, /<tr><td>blocked<\/td><td class="num">[1-9]/);
    assert.doesNotMatch(overview, /<td>bounce<\/td>/);
    const data = JSON.parse((await admin.get('/console/overview.json')).text) as {
      events: Record<string, number>;
    };
    assert.deepEqual(Object.keys(data.events), [
      'delivered',
      'bounced',
      'blocked',
      'deferred',
      'dropped',
    ]);
    assert.ok((data.events.bounced ?? 0) >= 1 && (data.events.blocked ?? 0) >= 1);

    // The suppression list says why as the message's page does, the API's reason on hover.
    const suppressions = (
      await admin.get('/console/suppressions?email=bounce%2Bwords%40example.jp')
    ).text;
    assert.match(suppressions, /<td><span title="bounce">bounced<\/span><\/td>/);
  });

  test('counts in words: "1 unsent message matches", "2 unsent messages match"', async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    simulator.faults.rejectCategories = ['counted'];
    const fail = async () => {
      const r = await tegami.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: 'count@example.jp' }], categories: ['counted'] }),
      );
      await waitFor(
        async () =>
          (await tegami.request('GET', `/v1/messages/${r.body.id}`)).body.status === 'failed',
        'the 400 to dead-letter it',
      );
    };
    const q = 'reason:failed category:counted';
    const unsent = async () => (await admin.get(`/console/unsent?q=${encodeURIComponent(q)}`)).text;
    const dryRun = async () =>
      (await admin.get(`/console/recoveries/dry-run?q=${encodeURIComponent(q)}&action=retry`)).text;
    try {
      await fail();
      assert.match(await unsent(), /<strong data-total>1<\/strong> unsent message matches\./);
      assert.match(
        await unsent(),
        /acts on <strong>the 1 message that matches this filter<\/strong>\. A dry run/,
      );
      const one = await dryRun();
      assert.match(one, /matches <strong data-matched>1<\/strong> message now/);
      assert.match(one, /Type the number of messages \(1\) to retry it </);
      await fail();
      assert.match(await unsent(), /<strong data-total>2<\/strong> unsent messages match\./);
      const two = await dryRun();
      assert.match(two, /matches <strong data-matched>2<\/strong> messages now/);
      assert.match(two, /to retry them all </);
      const wrong = await admin.post('/console/recoveries', { q, action: 'retry', confirm: '3' });
      assert.match(
        (await admin.get(wrong.location as string)).text,
        /the filter matches 2 messages now/,
      );
    } finally {
      simulator.faults.rejectCategories = [];
    }
  });

  test('a failed recipient was not sent (no event is coming); a retry keeps the search', async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    simulator.faults.rejectCategories = ['booking'];
    const r = await tegami.request(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'tanaka@example.jp' }], categories: ['booking'] }),
    );
    await waitFor(
      async () =>
        (await tegami.request('GET', `/v1/messages/${r.body.id}`)).body.status === 'failed',
      'the 400 to dead-letter it',
    );
    simulator.faults.rejectCategories = [];
    const q = 'to:tanaka@example.jp';
    const failed = (await admin.get(`/console/messages/${r.body.id}?q=${encodeURIComponent(q)}`))
      .text;
    assert.match(failed, /<td>failed<\/td><td><span class="muted">not sent<\/span>/);
    assert.doesNotMatch(failed, /no event yet/);

    const retried = await admin.post(`/console/messages/${r.body.id}/retry`, { q });
    assert.equal(retried.status, 303);
    assert.equal(retried.location, `/console/messages/${r.body.id}?q=to%3Atanaka%40example.jp`);
    const after = (await admin.get(retried.location as string)).text;
    assert.match(
      after,
      /<a href="\/console\/messages\?q=to%3Atanaka%40example\.jp" id="back">← Back to the search/,
    );
  });
});
