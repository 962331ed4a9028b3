import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, startTestService, TEST_ENGINE, type TestService, waitFor } from './helpers.ts';
import { signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

/**
 * Without the Event Webhook no delivery event can come: the console says a sent message's
 * delivery is not tracked, rather than "no event yet", which reads as something to wait for.
 */
describe(`the console without the Event Webhook (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
  });
  after(() => tegami.stop());

  test('a sent message: "not tracked" in the search and on its page, never "no event yet"', async () => {
    const r = await tegami.request(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'sato@example.jp' }] }),
    );
    assert.equal(r.status, 202);
    const id = r.body.id as string;
    await waitFor(
      async () => (await tegami.request('GET', `/v1/messages/${id}`)).body.status === 'sent',
      'the message sent',
    );
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const search = await admin.get(
      `/console/messages?q=${encodeURIComponent('to:sato@example.jp')}`,
    );
    assert.equal(search.status, 200);
    const page = await admin.get(`/console/messages/${id}`);
    assert.equal(page.status, 200);
    for (const [what, text] of [
      ['search', search.text],
      ['message page', page.text],
    ] as const) {
      assert.match(text, /title="No Event Webhook is set up[^"]*">not tracked</, what);
      assert.doesNotMatch(text, /no event yet/, what);
    }
  });
});
