import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, startTestService, type TestService, tempDatabase, waitFor } from './helpers.ts';
import { signIn } from './support/console.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const SG_KEY = 'SG.hold-key';

/**
 * The console says why mail is held: on the unsent page and on a waiting message's page, the
 * provider's state as the workers see it, and what to do (wait for an outage, fix a paused
 * account).
 */
describe('console: mail held by the provider says so', () => {
  let setup: SimulatorSetup;
  let tegami: TestService;
  const control = (method: string, path: string, body?: unknown) =>
    setup.control(method, path, body);
  const providerState = () =>
    tegami.request('GET', '/v1/providers').then((r) => r.body.providers[0]?.state as string);

  before(async () => {
    setup = await startWithSimulator(SG_KEY, {
      TEGAMI_PROVIDER_FAILURE_THRESHOLD: '1',
      TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '60000',
      TEGAMI_PROVIDER_PAUSE_CHECK_MS: '60000',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    ({ tegami } = setup);
  });
  after(() => setup?.stop());

  test('healthy: no banner; unavailable: it waits; paused: fix the account', async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const sent = await tegami.request('POST', '/v1/messages', message());
    await waitFor(async () => (await providerState()) === 'healthy', 'a healthy provider');
    assert.doesNotMatch((await admin.get('/console/unsent')).text, /Provider sendgrid is/);
    assert.doesNotMatch((await admin.get('/console')).text, /Provider sendgrid is/);

    assert.equal(
      (await control('POST', '/outage', { mode: '503', durationMs: 600_000 })).status,
      200,
    );
    const held = await tegami.request('POST', '/v1/messages', message({ subject: 'held' }));
    await waitFor(async () => (await providerState()) === 'unavailable', 'an unavailable provider');
    const unsent = await admin.get('/console/unsent');
    assert.match(unsent.text, /Provider sendgrid is <strong>unavailable<\/strong>/);
    assert.match(unsent.text, /goes out by itself when the provider recovers/);
    // The overview, the page on-call opens first, says it too, above the numbers.
    const overview = await admin.get('/console');
    assert.match(
      overview.text,
      /<div id="overview-hold" data-poll="10000"><p class="error" role="alert">Provider sendgrid is <strong>unavailable<\/strong>/,
    );
    // The bulk form on mail that is not failed says a retry skips it and it drains by itself.
    const reasons = await waitFor(async () => {
      const byReason = (await tegami.request('GET', '/v1/unsent/summary')).body.by_reason ?? {};
      const found = Object.keys(byReason).filter((r) => byReason[r] > 0);
      return found.length > 0 ? found : null;
    }, 'the held message counted as unsent');
    const notFailed = await admin.get(
      `/console/unsent?q=${encodeURIComponent(`reason:${reasons[0]}`)}`,
    );
    assert.match(notFailed.text, /Retry takes failed mail only: these messages are not failed/);
    const page = await admin.get(`/console/messages/${held.body.id}`);
    assert.match(page.text, /Provider sendgrid is <strong>unavailable<\/strong>/);
    // A message already sent is not held by anything.
    const done = await admin.get(`/console/messages/${sent.body.id}`);
    assert.doesNotMatch(done.text, /Provider sendgrid is/);

    // The key revoked: SendGrid answers 401 and the provider pauses.
    await control('DELETE', '/outage');
    assert.equal((await control('PUT', '/api-key', { apiKey: 'SG.another' })).status, 200);
    assert.equal((await tegami.request('POST', '/v1/providers/sendgrid/probe')).status, 202);
    await waitFor(async () => (await providerState()) === 'paused', 'a paused provider');
    const paused = await admin.get('/console/unsent');
    assert.match(paused.text, /Provider sendgrid is <strong>paused<\/strong>/);
    assert.match(paused.text, /does not pass by itself: fix it at the provider/);
    assert.match(paused.text, /POST \/v1\/providers\/sendgrid\/probe/);
  });
});

describe('console overview: a provider used earlier but configured no more', () => {
  test('is shown as not configured now, not as silent', async () => {
    const db = tempDatabase();
    const before = await startTestService({ TEGAMI_DATABASE_URL: db.url });
    try {
      const sent = await before.request('POST', '/v1/messages', message());
      assert.equal(sent.status, 202);
      await waitFor(
        async () =>
          (await before.request('GET', `/v1/messages/${sent.body.id}`)).body.status === 'sent',
        'the sandbox to send it',
      );
    } finally {
      await before.stop();
    }
    // The same database, now with another provider.
    const after = await startTestService({
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_PROVIDER: 'test',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    try {
      const admin = await signIn(after.url, ADMIN.email, ADMIN.password);
      const overview = await admin.get('/console');
      assert.equal(overview.status, 200);
      assert.match(
        overview.text,
        /<tr><td>sandbox<\/td><td><span class="muted">not configured now<\/span>/,
      );
      assert.doesNotMatch(
        overview.text,
        /<tr><td>test<\/td><td><span class="muted">not configured now/,
      );
    } finally {
      await after.stop();
      await db.cleanup();
    }
  });
});
