import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  startTestService,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, PAGE_PROBLEMS, signInAs } from './support/browser.ts';
import { type ConsoleClient, signIn } from './support/console.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const SG_KEY = 'SG.hold-key';
const PASSWORD = 'user-password-1234';

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
    // When the workers try again, as they reported it: a time to come (probe interval 60 s).
    const nextCheck = /The workers check it next at <time datetime="([^"]+)"/.exec(unsent.text);
    assert.ok(nextCheck, 'the next check is said');
    const inFuture = Date.parse(nextCheck[1] ?? '') - Date.now();
    assert.ok(inFuture > 0 && inFuture <= 60_000, `next check in ${inFuture} ms`);
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
    assert.match(
      paused.text,
      /does not pass by itself: fix it at the provider, then press Probe now/,
    );
    // Without a probe the workers still look by themselves, after TEGAMI_PROVIDER_PAUSE_CHECK_MS.
    const byThemselves =
      /Queued mail waits until then, or until the workers check by themselves at <time datetime="([^"]+)"/.exec(
        paused.text,
      );
    assert.ok(byThemselves, 'the next check of a paused provider is said');
    const pausedFor = Date.parse(byThemselves[1] ?? '') - Date.now();
    assert.ok(pausedFor > 0 && pausedFor <= 60_000, `next check in ${pausedFor} ms`);
    // The console's own way to the probe, not the API's request.
    assert.doesNotMatch(paused.text, /\/v1\/providers/);
  });

  test('paused: an admin of every unit probes from the banner; no one else can', async () => {
    await waitFor(async () => (await providerState()) === 'paused', 'a paused provider');
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const hotel = await createUnitWithKey(tegami, 'hotel');
    const others = new Map<string, ConsoleClient>();
    for (const [email, role, units] of [
      ['operator@example.jp', 'operator', '*'],
      ['viewer@example.jp', 'viewer', '*'],
      ['hotel-admin@example.jp', 'admin', hotel.id],
    ] as const) {
      const made = await admin.post('/console/users', { email, password: PASSWORD, role, units });
      assert.equal(made.status, 303, made.text);
      others.set(email, await signIn(tegami.url, email, PASSWORD));
    }
    const probes = async () => {
      const r = await tegami.request('GET', '/v1/audit-events?action=provider.probe&limit=100');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data as {
        actor: { type: string; id: string; name: string };
        target: string;
        at: string;
      }[];
    };
    const requestedAt = async () => {
      const rows = await queryDatabase<{ requested_at: number | string }>(
        tegami.databaseUrl,
        'select requested_at from provider_probe_requests where provider = ?',
        ['sendgrid'],
      );
      return rows[0] ? Number(rows[0].requested_at) : null;
    };
    const unchanged = async (what: string, count: number, at: number | null) => {
      assert.equal((await probes()).length, count, `${what}: no provider.probe recorded`);
      assert.equal(await requestedAt(), at, `${what}: no probe requested`);
    };

    // The button, on each page the banner is on, comes back to that page.
    const button = (back: string) =>
      new RegExp(
        `<form method="post" action="/console/providers/sendgrid/probe" class="inline"><input type="hidden" name="_csrf" value="[^"]+"><input type="hidden" name="back" value="${back.replace(/[?]/g, '\\?')}"><button type="submit">Probe now</button></form>`,
      );
    assert.match((await admin.get('/console')).text, button('/console'));
    assert.match(
      (await admin.get('/console/unsent?q=reason%3Aheld')).text,
      button('/console/unsent?q=reason%3Aheld'),
    );
    const waiting = await tegami.request('POST', '/v1/messages', message({ subject: 'waiting' }));
    assert.equal(waiting.status, 202);
    const messagePage = `/console/messages/${waiting.body.id}?back=%2Fconsole%2Funsent`;
    assert.match((await admin.get(messagePage)).text, button(messagePage));
    const before = await probes();
    const beforeAt = await requestedAt();
    const probed = await admin.post('/console/providers/sendgrid/probe', {
      back: '/console/unsent?q=reason%3Aheld',
    });
    assert.equal(probed.status, 303, probed.text);
    assert.equal(
      probed.location,
      '/console/unsent?q=reason%3Aheld&probed=sendgrid#probe-requested',
    );
    const after = await probes();
    assert.equal(after.length, before.length + 1);
    const [adminRow] = await queryDatabase<{ id: string }>(
      tegami.databaseUrl,
      'select id from console_users where email = ?',
      [ADMIN.email],
    );
    assert.deepEqual(after[0]?.actor, { type: 'console', id: adminRow?.id, name: ADMIN.email });
    assert.equal(after[0]?.target, 'sendgrid');
    const at = await requestedAt();
    assert.ok(at !== null && at > (beforeAt ?? 0), `requested at ${at}, before ${beforeAt}`);
    // The request and its provider.probe are one write: the event is of that request, to the ms.
    assert.equal(Date.parse(after[0]?.at ?? ''), at);
    const shown = await admin.get('/console/unsent?q=reason%3Aheld&probed=sendgrid');
    assert.equal(shown.status, 200);
    const iso = new Date(at).toISOString();
    assert.match(
      shown.text,
      new RegExp(
        `<div class="card notice" role="status" id="probe-requested"><p>Probe requested for provider <strong>sendgrid</strong> at <time datetime="${iso}"[^>]*>[^<]+</time>: the workers try one message now; this banner clears when it succeeds.</p></div>`,
      ),
    );
    // The page names itself without the notice, for the next probe's answer.
    assert.match(shown.text, button('/console/unsent?q=reason%3Aheld'));
    for (const path of ['/console?probed=sendgrid', `${messagePage}&probed=sendgrid`]) {
      assert.match((await admin.get(path)).text, /role="status" id="probe-requested"/, path);
    }
    // A link cannot make the notice up: a provider never probed is refused.
    assert.equal((await admin.get('/console?probed=mailgun')).status, 400);

    // A `back` that is no page of this console is not followed: the overview instead.
    for (const back of ['https://evil.example/', '//evil.example/console', '/v1/messages']) {
      const r = await admin.post('/console/providers/sendgrid/probe', { back });
      assert.equal(r.status, 303, `${back}: ${r.text}`);
      assert.equal(r.location, '/console?probed=sendgrid#probe-requested', back);
    }
    const count = (await probes()).length;
    const last = await requestedAt();

    // Refused, and nothing recorded: a provider this deployment does not know (400), a form
    // without the session's CSRF token (403), a user who is not an admin of every unit (403).
    const unknown = await admin.post('/console/providers/mailgun/probe', { back: '/console' });
    assert.equal(unknown.status, 400);
    assert.match(
      unknown.text,
      /<div class="error form-error" role="alert" id="probe-error"><p>No provider of this deployment is named so: a probe can be asked for sendgrid\.<\/p>\s*<p>No probe was asked for\.<\/p><\/div>/,
    );
    assert.match(unknown.text, /<a href="\/console">← Back to the overview<\/a>/);
    await unchanged('an unknown provider', count, last);
    for (const csrf of ['not-the-token', null]) {
      const r = await admin.post(
        '/console/providers/sendgrid/probe',
        { back: '/console' },
        { csrf },
      );
      assert.equal(r.status, 403, `csrf ${csrf}`);
      assert.match(r.text, /The form is out of date or was not sent by this console/);
    }
    await unchanged('a form without the CSRF token', count, last);
    for (const [email, user] of others) {
      const page = await user.get('/console');
      assert.match(page.text, /Provider sendgrid is <strong>paused<\/strong>/, email);
      assert.doesNotMatch(page.text, /\/console\/providers\/sendgrid\/probe|>Probe now</, email);
      assert.match(
        page.text,
        // Until then, or the workers' own next check if one is due (not while a probe is under way).
        /fix it at the provider, then an admin of every unit presses Probe now here\. Queued mail waits until then(\.|, or until the workers check by themselves at <time datetime=")/,
        email,
      );
      const r = await user.post('/console/providers/sendgrid/probe', { back: '/console' });
      assert.equal(r.status, 403, `${email}: ${r.text}`);
    }
    await unchanged('a user who is not an admin of every unit', count, last);
  });

  test('paused, in Chromium: Probe now is reached by keyboard and its answer is read out', {
    skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
  }, async () => {
    await waitFor(async () => (await providerState()) === 'paused', 'a paused provider');
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
      await page.goto(`${tegami.url}/console`);
      assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), []);
      // Tab from the top of the page, past the skip link and the menu, to the button.
      let focused = '';
      for (let tabs = 0; tabs < 40 && focused !== 'Probe now'; tabs++) {
        await page.keyboard.press('Tab');
        focused = String(await page.evaluate('document.activeElement?.textContent ?? ""'));
      }
      assert.equal(focused, 'Probe now', 'the button is a tab stop');
      await Promise.all([
        page.waitForURL(/\/console\?probed=sendgrid#probe-requested$/),
        page.keyboard.press('Enter'),
      ]);
      const notice = page.locator('#probe-requested');
      assert.equal(await notice.getAttribute('role'), 'status');
      assert.match(
        (await notice.textContent()) ?? '',
        /^Probe requested for provider sendgrid at .+: the workers try one message now; this banner clears when it succeeds\.$/,
      );
      assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), []);
    } finally {
      await browser.close();
    }
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
