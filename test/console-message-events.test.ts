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
