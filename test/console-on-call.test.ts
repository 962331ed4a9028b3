import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Alert } from '../src/domain/alerts/lifecycle.ts';
import { API_STEP_HINTS } from '../src/domain/alerts/rules.ts';
import { pausedProviderAdvice, probeRequest } from '../src/domain/provider-health.ts';
import {
  createUnitWithKey,
  message,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, signInAs } from './support/browser.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'viewer-password-123';

/**
 * What a support person and an on-call operator ran into: mail failed only because its
 * recipients are suppressed, retried in bulk; a message opened from the unsent view whose "Back"
 * led to an empty search; a unit switch that dropped the search; a suppression the server refused
 * that lost what was typed; the audit log and the recoveries without older pages; a recovery's
 * filter as JSON; the search unusable on a phone; an alert with no way into the console.
 */
describe(`the console on call (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  let suppressedId: string;
  let permanentId: string;
  let hotel: { id: string; key: string };

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    hotel = await createUnitWithKey(tegami, 'hotel');
    const added = await tegami.request('POST', '/v1/suppressions', {
      email: 'bounced-guest@example.jp',
    });
    assert.ok(added.status === 201 || added.status === 200, JSON.stringify(added.body));
    const submit = async (to: string, subject: string) => {
      const r = await tegami.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: to }], subject }),
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.id as string;
    };
    suppressedId = await submit('bounced-guest@example.jp', 'Booking confirmation 1');
    permanentId = await submit('permanent@example.jp', 'Booking confirmation 2');
    await waitFor(async () => {
      const r = await tegami.request('GET', '/v1/messages?status=failed&count=true');
      return r.body.total === 2;
    }, 'both messages failed');
  });
  after(async () => {
    await tegami?.stop();
  });

  test('a dry run of a retry says how many failed because their recipients are suppressed, and leaves them out on request', async () => {
    const dry = await admin.get('/console/recoveries/dry-run?q=reason%3Afailed&action=retry');
    assert.equal(dry.status, 200);
    assert.match(dry.text, /<strong data-matched>2<\/strong>/);
    const warning = /<div class="error" role="alert" id="suppressed-warning">[\s\S]*?<\/div>/.exec(
      dry.text,
    )?.[0];
    assert.ok(warning, 'the warning');
    assert.match(
      warning,
      /1 of the 2 matched messages failed because their recipients are suppressed/,
    );
    const without = /<a href="([^"]+)">Dry run without them<\/a>/.exec(warning)?.[1];
    assert.equal(
      without?.replace(/&amp;/g, '&'),
      '/console/recoveries/dry-run?q=reason%3Afailed+-error%3Asuppressed&action=retry',
    );
    const narrowed = await admin.get((without as string).replace(/&amp;/g, '&'));
    assert.match(narrowed.text, /<strong data-matched>1<\/strong>/);
    assert.doesNotMatch(narrowed.text, /suppressed-warning/);
    assert.match(narrowed.text, new RegExp(permanentId));
    assert.doesNotMatch(narrowed.text, new RegExp(suppressedId));
    // A cancel is not failed again by a suppression: no warning.
    const cancel = await admin.get('/console/recoveries/dry-run?q=reason%3Afailed&action=cancel');
    assert.doesNotMatch(cancel.text, /suppressed-warning/);
  });

  test("a recovery's page shows its filter as search words, and links the mail that failed again", async () => {
    const started = await admin.post('/console/recoveries', {
      q: 'reason:failed -error:suppressed',
      action: 'retry',
      confirm: '1',
    });
    assert.equal(started.status, 303, started.text);
    const path = started.location as string;
    const id = path.split('/').pop() as string;
    // The permanent failure fails again.
    const done = await waitFor(async () => {
      const page = await admin.get(path);
      return /data-outcome="failed">1</.test(page.text) ? page.text : null;
    }, 'the retried message to fail again');
    assert.match(
      done,
      /<code id="recovery-filter">reason:failed -error:suppressed<\/code> <a href="\/console\/messages\?q=reason%3Afailed\+-error%3Asuppressed">search these messages<\/a>/,
    );
    assert.doesNotMatch(done, /\{&quot;/, 'no JSON');
    const link = /<a href="([^"]+)" id="failed-again">/.exec(done)?.[1]?.replace(/&amp;/g, '&');
    assert.equal(link, `/console/messages?q=recovery%3A${id}+status%3Afailed`);
    const search = await admin.get(link as string);
    assert.equal(search.status, 200);
    assert.match(search.text, new RegExp(`/console/messages/${permanentId}`));
    assert.doesNotMatch(search.text, new RegExp(`/console/messages/${suppressedId}`));
    // A unit's user searching another unit's recovery finds none of its mail.
    await admin.post('/console/users', {
      email: 'hotel-viewer@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: hotel.id,
      bodies: '1',
    });
    const hotelViewer = await signIn(tegami.url, 'hotel-viewer@example.jp', PASSWORD);
    const theirs = await hotelViewer.get(link as string);
    assert.equal(theirs.status, 200);
    assert.doesNotMatch(theirs.text, new RegExp(permanentId));
  });

  test('a message opened from the unsent view goes back there; a back link to elsewhere is refused', async () => {
    const unsent = await admin.get('/console/unsent?q=reason%3Afailed');
    const open = new RegExp(`href="(/console/messages/${suppressedId}\\?back=[^"]+)"`).exec(
      unsent.text,
    )?.[1];
    assert.ok(open, 'the message links with its way back');
    const page = await admin.get(open.replace(/&amp;/g, '&'));
    assert.match(
      page.text,
      /<a href="\/console\/unsent\?q=reason%3Afailed" id="back">← Back to unsent mail<\/a>/,
    );
    for (const bad of [
      'https://evil.example/console',
      '//evil.example/console',
      '/\\evil.example',
      '/console/../v1/messages',
      'javascript:alert(1)',
      '/console\tx',
    ]) {
      const refused = await admin.get(
        `/console/messages/${suppressedId}?back=${encodeURIComponent(bad)}&q=to%3Abounced-guest%40example.jp`,
      );
      assert.equal(refused.status, 200, bad);
      assert.match(
        refused.text,
        /<a href="\/console\/messages\?q=to%3Abounced-guest%40example\.jp" id="back">← Back to the search<\/a>/,
        bad,
      );
      assert.doesNotMatch(refused.text, /evil\.example|javascript:|\/v1\/messages/, bad);
    }
    // A retry keeps the way back.
    const retried = await admin.post(`/console/messages/${suppressedId}/retry`, {
      back: '/console/unsent?q=reason%3Afailed',
    });
    assert.equal(retried.status, 303);
    assert.equal(
      retried.location,
      `/console/messages/${suppressedId}?back=%2Fconsole%2Funsent%3Fq%3Dreason%253Afailed`,
    );
    const away = await admin.post(`/console/messages/${permanentId}/cancel`, {
      back: 'https://evil.example/',
    });
    // Failed mail cannot be cancelled; the way back is not followed anywhere either.
    assert.equal(away.status, 409);
  });

  test('the unit switcher keeps the search', async () => {
    await admin.post('/console/users', {
      email: 'two-units@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: [hotel.id, (await defaultUnitId(tegami)) as string],
      bodies: '1',
    });
    const both = await signIn(tegami.url, 'two-units@example.jp', PASSWORD);
    const search = await both.get('/console/messages?q=to%3Aguest%40example.jp+status%3Afailed');
    assert.match(
      search.text,
      /<input type="hidden" name="next" value="\/console\/messages\?q=to%3Aguest%40example\.jp\+status%3Afailed">/,
    );
    const switched = await both.post('/console/unit', {
      unit: hotel.id,
      next: '/console/messages?q=to%3Aguest%40example.jp+status%3Afailed',
    });
    assert.equal(switched.status, 303);
    assert.equal(switched.location, '/console/messages?q=to%3Aguest%40example.jp+status%3Afailed');
    // Without a search, the section as before.
    const unsent = await both.get('/console/unsent');
    assert.match(unsent.text, /<input type="hidden" name="next" value="\/console\/unsent">/);
  });

  test('a suppression the server refuses keeps what was typed, and answers 400', async () => {
    // A browser's type=email takes `guest@localhost`; an address mail can go to needs a dot.
    const refused = await admin.post('/console/suppressions', {
      email: 'guest@localhost',
      reason: 'unsubscribe',
    });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /<p class="error" role="alert" id="suppression-error">/);
    assert.match(refused.text, /“guest@localhost” is not an address mail can be sent to/);
    assert.match(
      refused.text,
      /<input type="email" name="email" required value="guest@localhost" aria-invalid="true"/,
    );
    assert.match(refused.text, /<option value="unsubscribe" selected>unsubscribed<\/option>/);
    const list = await tegami.request('GET', '/v1/suppressions?email=guest%40localhost');
    assert.equal(list.status, 200);
    assert.equal(list.body.data.length, 0, 'nothing added');
    // A viewer is still refused before its form is read.
    const viewer = await signIn(tegami.url, 'hotel-viewer@example.jp', PASSWORD);
    const forged = await viewer.post('/console/suppressions', { email: 'guest@localhost' });
    assert.equal(forged.status, 403);
  });

  test('the audit log and the recoveries page back through older pages; a date not understood is a 400', async () => {
    // 105 recoveries of nothing: 105 recoveries, and as many audit events.
    for (let i = 0; i < 105; i++) {
      const r = await tegami.request('POST', '/v1/recoveries', {
        action: 'retry',
        dry_run: false,
        filter: { status: 'failed', category: `nothing-${i}` },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    const seen = new Set<string>();
    let path: string | null = '/console/recoveries';
    let pages = 0;
    while (path) {
      const page = await admin.get(path);
      assert.equal(page.status, 200);
      for (const m of page.text.matchAll(/href="\/console\/recoveries\/(rec_[^"]+)"/g))
        seen.add(m[1] as string);
      pages++;
      path =
        /<a href="([^"]+)" rel="next">Older recoveries →<\/a>/
          .exec(page.text)?.[1]
          ?.replace(/&amp;/g, '&') ?? null;
    }
    assert.equal(pages, 3);
    assert.equal(seen.size, 106, 'every recovery once (105 and the console one)');

    const audited = new Set<string>();
    path = '/console/audit?action=recovery.start';
    pages = 0;
    while (path) {
      const page = await admin.get(path);
      assert.equal(page.status, 200);
      for (const m of page.text.matchAll(/<td><code>(rec_[^<]+)<\/code><\/td>/g))
        audited.add(m[1] as string);
      pages++;
      path =
        /<a href="([^"]+)" rel="next">Older events →<\/a>/
          .exec(page.text)?.[1]
          ?.replace(/&amp;/g, '&') ?? null;
      if (path) assert.match(path, /action=recovery\.start/, 'the filter is kept');
    }
    assert.equal(pages, 2);
    assert.equal(audited.size, 106);

    const bad = await admin.get('/console/audit?after=yesterday&actor=cli%3Aops');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /id="audit-time-error"/);
    assert.match(bad.text, /<input name="after" value="yesterday"/);
    assert.match(bad.text, /<input name="actor" value="cli:ops"/);
  });

  test("the audit log's Who filter takes who as the log names them: a key's name, a user's e-mail", async () => {
    const byKey = await request(
      tegami.url,
      'POST',
      '/v1/suppressions',
      { email: 'by-hotel-app@example.jp' },
      {},
      hotel.key,
    );
    assert.equal(byKey.status, 201, JSON.stringify(byKey.body));
    const byUser = await admin.post('/console/suppressions', { email: 'by-admin@example.jp' });
    assert.ok(byUser.status < 400, `${byUser.status}`);

    const targets = async (actor: string) => {
      const page = await admin.get(
        `/console/audit?action=suppression.add&actor=${encodeURIComponent(actor)}`,
      );
      assert.equal(page.status, 200, actor);
      assert.match(page.text, /<label>Who <input name="actor"/);
      return [...page.text.matchAll(/<td><code>([^<]*@example\.jp)<\/code><\/td>/g)].map(
        (m) => m[1],
      );
    };
    // The names the table shows: "hotel app · API key", "admin@example.jp · console user".
    const all = await admin.get('/console/audit?action=suppression.add');
    assert.match(all.text, />hotel app<\/span> <span class="muted actor-kind">· API key</);
    assert.match(
      all.text,
      />admin@example\.jp<\/span> <span class="muted actor-kind">· console user</,
    );
    assert.deepEqual(await targets('hotel app'), ['by-hotel-app@example.jp']);
    assert.deepEqual(await targets('Admin@Example.jp'), ['by-admin@example.jp']);
    assert.deepEqual(await targets('no such app'), []);
    // The export takes the same filter.
    const csv = await admin.get('/console/audit?actor=hotel%20app&format=csv');
    assert.equal(csv.status, 200);
    const rows = csv.text.trim().split('\r\n').slice(1);
    assert.ok(rows.length > 0 && rows.every((r) => r.includes('"key","key_')), csv.text);
  });

  test('the audit log names keys, units and users, and shows the unit of each event', async () => {
    const made = await admin.post('/console/keys', {
      name: 'night shift',
      unit: hotel.id,
      admin: '1',
    });
    assert.equal(made.status, 200, made.text);
    const created = await tegami.request('GET', '/v1/audit-events?action=key.create&limit=1');
    const keyId = created.body.data[0].target as string;
    assert.equal(created.body.data[0].target_name, 'night shift');
    assert.equal((await admin.post(`/console/keys/${keyId}/revoke`, {})).status, 303);

    const row = async (action: string, target: string) => {
      const page = await admin.get(`/console/audit?action=${action}`);
      assert.equal(page.status, 200);
      assert.match(
        page.text,
        /<th>Who<\/th><th>Action<\/th><th>Unit<\/th><th>Target<\/th><th>Details<\/th>/,
      );
      return (
        (page.text.split('<tbody>')[1] ?? '').split('<tr>').find((r) => r.includes(target)) ??
        `${target} not in ${page.text}`
      );
    };
    // An admin key's events are of every unit; the Unit column shows where its mail goes, as the
    // keys page does. Its name stands for its id, which shows on hover.
    for (const action of ['key.create', 'key.revoke']) {
      assert.match(
        await row(action, keyId),
        new RegExp(
          `<td>${action.replace('.', '\\.')}</td><td>hotel \\(admin\\)</td><td><span class="target" title="${keyId}">night shift</span></td>`,
        ),
      );
    }
    const details = await row('key.create', keyId);
    assert.match(details, /<td class="wrap">admin key: every unit<\/td>/);
    assert.doesNotMatch(details, /&quot;admin&quot;/, 'no JSON for a new key');
    assert.match(
      await row('unit.create', hotel.id),
      new RegExp(`<td>hotel</td><td><span class="target" title="${hotel.id}">hotel</span></td>`),
    );
    assert.match(
      // The first admin, made from TEGAMI_ADMIN_EMAIL (as target; it is also who made others).
      await row('user.create', '>admin@example.jp</span></td>'),
      /<td><\/td><td><span class="target" title="usr_\w+">admin@example\.jp<\/span><\/td>/,
    );
    // Targets with no other name stay as recorded.
    assert.match(
      await row('suppression.add', 'bounced-guest@example.jp'),
      /<td>default<\/td><td><code>bounced-guest@example\.jp<\/code><\/td>/,
    );
    const csv = await admin.get('/console/audit?action=key.revoke&format=csv');
    const [header, line] = csv.text.replace(/^\ufeff/, '').split('\r\n');
    assert.equal(
      header,
      '"at","actor_type","actor_id","actor_name","action","unit","target","target_name","filter","counts"',
    );
    assert.ok(line?.endsWith(`"key.revoke","","${keyId}","night shift","",""`), line);
  });

  /** An alert firing from now, as the evaluator opens one (`n` keeps the ids apart). */
  async function openAlert(
    n: number,
    alert: Pick<Alert, 'key' | 'rule' | 'summary' | 'hint'> & Partial<Alert>,
  ) {
    const { createAlertStore } = await import('../src/store/alerts/index.ts');
    const store = createAlertStore(tegami.service.database);
    const now = Date.now();
    assert.ok(
      await store.open(
        {
          id: `alt_${String(now).padStart(13, '0')}${String(n).padStart(13, '0')}`,
          severity: 'warning',
          state: 'firing',
          unitId: null,
          provider: null,
          fault: 'message',
          evidence: {
            count: 3,
            threshold: 0,
            since: now,
            topErrors: [],
            provider: null,
            details: {},
          },
          startedAt: now,
          endedAt: null,
          lastNotifiedAt: now,
          updatedAt: now,
          ...alert,
        },
        [],
      ),
    );
  }

  test('a firing alert links to the unsent mail it is about', async () => {
    await openAlert(1, {
      key: `dead_letters:${hotel.id}`,
      rule: 'dead_letters',
      unitId: hotel.id,
      summary: 'dead letters of hotel',
      hint: API_STEP_HINTS.deadLetters,
    });
    const page = await admin.get('/console/alerts');
    assert.match(
      page.text,
      /<a href="\/console\/unsent\?q=unit%3Ahotel\+reason%3Afailed" data-alert-link>Open the unsent mail<\/a>/,
    );
    // The history holds resolved alerts: with one firing, it cannot say none has fired.
    assert.match(page.text, /<p class="muted" role="status">No alert has resolved yet\.<\/p>/);
    assert.doesNotMatch(page.text, /No alert has fired yet/);
    // The overview, the page on-call opens first, reaches that mail in one click too.
    const overview = await admin.get('/console');
    assert.match(
      overview.text,
      /dead letters of hotel<\/a>[^<]*<span class="muted">[^<]*<time[^>]*>[^<]*<\/time><\/span> · <a href="\/console\/unsent\?q=unit%3Ahotel\+reason%3Afailed" data-alert-link>Open the unsent mail<\/a>/,
    );
  });

  test("an alert's hint says the console's way to what the API's hint asks of the API, which keeps its own", async () => {
    // The dead_letters alert of the test above, and one alert for each other hint that is a request.
    await openAlert(2, {
      key: `unconfirmed:${hotel.id}`,
      rule: 'unconfirmed',
      unitId: hotel.id,
      fault: 'provider',
      summary: 'unconfirmed mail of hotel',
      hint: API_STEP_HINTS.unconfirmed,
    });
    await openAlert(3, {
      key: `delivery_delay:${hotel.id}`,
      rule: 'delivery_delay',
      severity: 'critical',
      unitId: hotel.id,
      fault: 'provider',
      summary: 'late mail of hotel',
      hint: API_STEP_HINTS.heldByProvider,
    });
    await openAlert(4, {
      key: 'provider_failing:test',
      rule: 'provider_failing',
      severity: 'critical',
      provider: 'test',
      fault: 'tegami',
      summary: 'no delivery worker reports on provider test',
      hint: API_STEP_HINTS.noWorker,
    });
    // A paused provider's hints, as the rules write them, name the API's probe request.
    const paused = {
      count: 1,
      threshold: 0,
      since: Date.now(),
      topErrors: [],
      provider: { name: 'test', state: 'paused', reason: 'http_401: key revoked', since: null },
      details: {},
    };
    await openAlert(5, {
      key: 'provider_failing:test:paused',
      rule: 'provider_failing',
      severity: 'critical',
      provider: 'test',
      fault: 'provider',
      summary: 'provider test is paused',
      hint: `an account problem (key revoked, sender not verified, quota): fix it at the provider, then ${probeRequest('test')}`,
      evidence: paused,
    });
    await openAlert(6, {
      key: `delivery_delay:${hotel.id}:paused`,
      rule: 'delivery_delay',
      severity: 'critical',
      unitId: hotel.id,
      fault: 'provider',
      summary: 'late mail of hotel behind a paused provider',
      hint: `provider test is paused: http_401: key revoked. ${pausedProviderAdvice('test')} Mail is held until then.`,
      evidence: paused,
    });
    const page = await admin.get('/console/alerts');
    assert.equal(page.status, 200);
    const hints = [
      ...page.text.matchAll(/<strong>([^<]*)<\/strong><div class="sample">([^<]*)<\/div>/g),
    ];
    const hintOf = (summary: string) =>
      hints.find((h) => h[1] === summary)?.[2]?.replace(/&quot;/g, '"');
    assert.equal(
      hintOf('dead letters of hotel'),
      'find them in Unsent mail (reason:failed); once the cause is fixed, recover them from there, with a dry run first',
    );
    assert.equal(
      hintOf('unconfirmed mail of hotel'),
      'Unsent mail (reason:unconfirmed) lists them; if many, the Event Webhook may be losing events',
    );
    assert.equal(
      hintOf('late mail of hotel'),
      'mail is held back by the provider state; check Providers on the Overview',
    );
    assert.match(
      hintOf('no delivery worker reports on provider test') ?? '',
      /^start a worker \(tegami worker or tegami serve\).*Providers on the Overview says "no report"/,
    );
    // The probe is the Overview's Probe now, in the paused provider's banner.
    assert.equal(
      hintOf('provider test is paused'),
      'an account problem (key revoked, sender not verified, quota): fix it at the provider, then an admin of every unit presses Probe now on the Overview',
    );
    assert.match(
      hintOf('late mail of hotel behind a paused provider') ?? '',
      /does not pass by itself: fix it at the provider, then an admin of every unit presses Probe now on the Overview\. Mail is held until then\.$/,
    );
    for (const [, summary, hint] of hints) {
      assert.doesNotMatch(hint ?? '', /\/v1\/|GET |POST /, `${summary}: ${hint}`);
    }
    // The API, the alert webhook and Slack give the hint as the rule wrote it.
    const api = await tegami.request('GET', '/v1/alerts?state=firing');
    assert.equal(api.status, 200);
    const apiHint = (summary: string) =>
      api.body.data.find((a: { summary: string }) => a.summary === summary)?.hint;
    assert.equal(apiHint('dead letters of hotel'), API_STEP_HINTS.deadLetters);
    assert.match(apiHint('dead letters of hotel'), /GET \/v1\/unsent\?reason=failed/);
    assert.equal(apiHint('unconfirmed mail of hotel'), API_STEP_HINTS.unconfirmed);
    assert.equal(apiHint('late mail of hotel'), API_STEP_HINTS.heldByProvider);
    assert.equal(apiHint('no delivery worker reports on provider test'), API_STEP_HINTS.noWorker);
    assert.match(apiHint('provider test is paused'), /then POST \/v1\/providers\/test\/probe$/);
  });
});

async function defaultUnitId(tegami: TestService): Promise<string | undefined> {
  const units = await request(tegami.url, 'GET', '/v1/units');
  return units.body.data.find((u: { name: string }) => u.name === 'default')?.id;
}

describe(`the console on call, in Chromium (${TEST_ENGINE})`, {
  skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
}, () => {
  let tegami: TestService;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let failedId: string;
  let hotelId: string;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      // No alert fires for the failed message while the overview is watched for changes.
      TEGAMI_ALERT_FOR_S: '3600',
    });
    hotelId = (await createUnitWithKey(tegami, 'hotel')).id;
    const r = await tegami.request(
      'POST',
      '/v1/messages',
      message({
        to: [{ email: 'permanent-reservations-department@very-long-domain.example.jp' }],
        subject: '【ホテル東京ステーション】ご予約の確認（予約番号 B-2026-12-05-000123）',
        categories: ['booking'],
      }),
    );
    assert.equal(r.status, 202);
    failedId = r.body.id;
    await waitFor(
      async () =>
        (await tegami.request('GET', `/v1/messages/${failedId}`)).body.status === 'failed',
      'the message failed',
    );
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
  });
  after(async () => {
    await browser?.close();
    await tegami?.stop();
  });

  test('Back from a message opened on the unsent view returns to it, filter and all', async () => {
    await page.goto(`${tegami.url}/console/unsent?q=reason%3Afailed+category%3Abooking`);
    await Promise.all([
      page.waitForURL(new RegExp(`/console/messages/${failedId}`)),
      page.click(`a[href^="/console/messages/${failedId}"]`),
    ]);
    await Promise.all([page.waitForURL(/\/console\/unsent\?/), page.click('#back')]);
    const url = new URL(page.url());
    assert.equal(url.pathname, '/console/unsent');
    assert.equal(url.searchParams.get('q'), 'reason:failed category:booking');
    assert.equal(await page.inputValue('input[name=q]'), 'reason:failed category:booking');
  });

  test('switching units keeps the search', async () => {
    await page.goto(`${tegami.url}/console/users`);
    const defaultId = await defaultUnitId(tegami);
    await page.fill('input[name=email]', 'two-units@example.jp');
    await page.fill('input[name=password]', PASSWORD);
    await page.selectOption('select[name=role]', 'viewer');
    await page.selectOption('select[name=units]', [hotelId, defaultId as string]);
    await Promise.all([
      page.waitForURL(/\/console\/users\?created=usr_/),
      page.click('form.card button[type=submit]'),
    ]);
    await signInAs(page, tegami.url, 'two-units@example.jp', PASSWORD);
    await page.goto(`${tegami.url}/console/messages?q=category%3Abooking`);
    assert.equal(await page.locator(`a[href^="/console/messages/${failedId}"]`).count(), 1);
    // The page at the same URL, loaded again: wait for the new document, not the URL.
    await Promise.all([page.waitForEvent('load'), page.selectOption('select[name=unit]', hotelId)]);
    assert.equal(new URL(page.url()).searchParams.get('q'), 'category:booking');
    assert.equal(await page.inputValue('input[name=q]'), 'category:booking');
    // The hotel has no such mail: the search ran in the unit switched to.
    assert.equal(await page.locator(`a[href^="/console/messages/${failedId}"]`).count(), 0);
  });

  test('an address the browser takes but the server refuses stays in the form, with the error', async () => {
    await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
    await page.goto(`${tegami.url}/console/suppressions`);
    await page.fill('form.card input[name=email]', 'guest@localhost');
    await page.selectOption('form.card select[name=reason]', 'unsubscribe');
    const [response] = await Promise.all([
      page.waitForResponse(
        (r) => r.url().endsWith('/console/suppressions') && r.request().method() === 'POST',
      ),
      page.click('form.card button[type=submit]'),
    ]);
    assert.equal(response.status(), 400);
    await page.waitForSelector('#suppression-error');
    assert.match(
      (await page.textContent('#suppression-error')) ?? '',
      /guest@localhost.*is not an address mail can be sent to/,
    );
    assert.equal(await page.inputValue('form.card input[name=email]'), 'guest@localhost');
    assert.equal(await page.inputValue('form.card select[name=reason]'), 'unsubscribe');
  });

  test("the overview's refresh leaves what did not change in place, so a notice is not read out again", async () => {
    await page.goto(`${tegami.url}/console`);
    // Each section put in again is noted, and so is one put in again as it was (what must not
    // happen). The traffic chart's data may change with the clock alone (its minutes move on),
    // so "nothing changed" is judged section by section, against what each held before.
    await page.evaluate(`(() => {
      window.replaced = [];
      window.replacedAsItWas = [];
      for (const el of document.querySelectorAll('[data-poll]')) {
        let before = el.innerHTML;
        new MutationObserver(() => {
          window.replaced.push(el.id);
          if (el.innerHTML === before) window.replacedAsItWas.push(el.id);
          before = el.innerHTML;
        }).observe(el, { childList: true });
      }
    })()`);
    // Past one refresh (every 10 s) with nothing changed: nothing is put in again as it was.
    await page.waitForResponse((r) => r.url() === `${tegami.url}/console`, { timeout: 15_000 });
    await page.waitForTimeout(500);
    assert.deepEqual(await page.evaluate('window.replacedAsItWas'), []);
    // Of what holds no time, nothing at all was put in again.
    assert.deepEqual(
      ((await page.evaluate('window.replaced')) as string[]).filter(
        (id) => id !== 'traffic-chart-data',
      ),
      [],
    );
    // A change is still drawn at the next refresh.
    const r = await tegami.request('POST', '/v1/messages', message({ subject: 'one more' }));
    assert.equal(r.status, 202);
    await page.waitForFunction(
      () => (globalThis as unknown as { replaced: string[] }).replaced.includes('overview-tiles'),
      undefined,
      { timeout: 25_000 },
    );
  });

  test('at 390 px the subject of a result is reachable without scrolling sideways', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    try {
      for (const path of [
        '/console/messages?q=category%3Abooking',
        '/console/unsent?q=reason%3Afailed',
      ]) {
        await page.goto(`${tegami.url}${path}`);
        const link = page.locator(`table.messages a[href^="/console/messages/${failedId}"]`);
        assert.equal(await link.count(), 1, path);
        const box = await link.boundingBox();
        assert.ok(box, path);
        assert.ok(box.x >= 0 && box.x + box.width <= 390, `${path}: the link at x ${box.x}`);
        // First in its row, and nothing scrolls sideways: neither the page nor the table.
        const { table, first } = (await page.evaluate(`(() => {
          const t = document.querySelector('table.messages');
          const row = t.querySelector('tbody tr');
          const cells = [...row.children].filter((c) => getComputedStyle(c).display !== 'none');
          cells.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top || a.getBoundingClientRect().left - b.getBoundingClientRect().left);
          return { table: t.scrollWidth - t.clientWidth, first: cells[0].className };
        })()`)) as { table: number; first: string };
        assert.equal(first, 'subject', path);
        assert.ok(table <= 0, `${path}: the table scrolls ${table} px sideways`);
        const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
        assert.ok(width <= 390, `${path} is ${width} px wide`);
        await link.click();
        await page.waitForURL(new RegExp(`/console/messages/${failedId}`));
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });
});
