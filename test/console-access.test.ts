import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Alert } from '../src/domain/alerts/lifecycle.ts';
import { createAlertStore } from '../src/store/alerts/index.ts';
import {
  message,
  queryDatabase,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { firingAlert } from './support/alerts.ts';
import { type ConsoleClient, postForm, postFormFrom, signIn } from './support/console.ts';

/**
 * The console's access rules, checked on the server with plain HTTP requests (what a forged
 * request would send): sign-in and lock-out, CSRF, roles, unit limits, metadata-only users,
 * sign-out everywhere, and the audit log naming the console user.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';

describe(`console access rules (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  let hotelMessage: string;
  let unitIds: Record<string, string> = {};
  let restaurantMessage: string;

  async function createKey(unitId: string, name: string): Promise<string> {
    const r = await admin.post('/console/keys', { name, unit: unitId });
    assert.equal(r.status, 200, r.text);
    const key = /data-new-key>([^<]+)</.exec(r.text)?.[1];
    assert.ok(key, 'the new key is shown once');
    return key;
  }

  async function createUser(email: string, fields: Record<string, string | string[]>) {
    const r = await admin.post('/console/users', { email, password: PASSWORD, ...fields });
    assert.equal(r.status, 303, r.text);
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
      TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    });
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const units: Record<string, string> = {};
    for (const name of ['hotel', 'restaurant']) {
      const r = await tegami.request('POST', '/v1/units', { name });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      units[name] = r.body.id;
    }
    unitIds = units;
    const hook = await admin.post('/console/webhooks', {
      url: 'http://127.0.0.1:9/hotel-hooks',
      events: ['message.sent', 'message.failed'],
      unit: units.hotel as string,
    });
    assert.equal(hook.status, 200, hook.text);
    const hotelKey = await createKey(units.hotel as string, 'hotel app');
    const restaurantKey = await createKey(units.restaurant as string, 'restaurant app');
    const submit = async (key: string, to: string, overrides: Record<string, unknown> = {}) => {
      const r = await request(
        tegami.url,
        'POST',
        '/v1/messages',
        message({ to: [{ email: to }], ...overrides }),
        {},
        key,
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.id as string;
    };
    hotelMessage = await submit(hotelKey, 'guest@example.jp', {
      subject: '=HYPERLINK("http://evil.example","ご予約")',
      html: '<p>ようこそ</p>',
    });
    restaurantMessage = await submit(restaurantKey, 'diner@example.jp', { subject: 'Dinner' });
    await createUser('viewer@example.jp', { role: 'viewer', units: '*', bodies: '1' });
    await createUser('operator@example.jp', { role: 'operator', units: '*', bodies: '1' });
    await createUser('hotel@example.jp', {
      role: 'operator',
      units: units.hotel as string,
      bodies: '1',
    });
    await createUser('meta@example.jp', { role: 'viewer', units: '*' });
  });
  after(async () => {
    await tegami.stop();
  });

  test('pages need a session; a wrong password is refused, five in a row lock the account', async () => {
    const page = await fetch(`${tegami.url}/console/messages`, { redirect: 'manual' });
    assert.equal(page.status, 303);
    assert.match(page.headers.get('location') ?? '', /^\/console\/sign-in\?next=/);
    const post = await postForm(`${tegami.url}/console/messages/${hotelMessage}/retry`, {});
    assert.equal(post.status, 401);

    const unknown = await postForm(`${tegami.url}/console/sign-in`, {
      email: 'nobody@example.jp',
      password: PASSWORD,
    });
    assert.equal(unknown.status, 401);
    assert.match(await unknown.text(), /Wrong e-mail address or password/);
    for (let i = 0; i < 4; i++) {
      const r = await postForm(`${tegami.url}/console/sign-in`, {
        email: 'meta@example.jp',
        password: 'wrong-password-xx',
      });
      assert.equal(r.status, 401);
    }
    const fifth = await postForm(`${tegami.url}/console/sign-in`, {
      email: 'meta@example.jp',
      password: 'wrong-password-xx',
    });
    assert.equal(fifth.status, 429);
    const right = await postForm(`${tegami.url}/console/sign-in`, {
      email: 'META@example.jp',
      password: PASSWORD,
    });
    assert.equal(right.status, 429, 'locked even with the right password');
    assert.equal(right.headers.get('set-cookie'), null);
    // An address with no user answers the same, lock-out included: nothing tells them apart.
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await postForm(`${tegami.url}/console/sign-in`, {
        email: 'no-such-user@example.jp',
        password: 'wrong-password-xx',
      });
      answers.push(r.status);
      if (r.status === 429) assert.match(await r.text(), /this account is locked.*Try again in/);
    }
    assert.deepEqual(answers, [401, 401, 401, 401, 429, 429]);
  });

  test('guesses sent all at once get five checks, not one each, and lock the account', async () => {
    await createUser('burst@example.jp', { role: 'viewer', units: '*' });
    const attempt = (password: string) =>
      postForm(`${tegami.url}/console/sign-in`, { email: 'burst@example.jp', password });
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => attempt(`wrong-password-${i}`)),
    );
    // Four refused, the fifth checked locks; the other 25 are refused unchecked.
    assert.deepEqual(answers.map((r) => r.status).sort(), [
      ...Array(4).fill(401),
      ...Array(26).fill(429),
    ]);
    assert.equal((await attempt(PASSWORD)).status, 429, 'locked, even for the right password');
    // The same for an address with no user.
    const unknown = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        postForm(`${tegami.url}/console/sign-in`, {
          email: 'burst-nobody@example.jp',
          password: `wrong-password-${i}`,
        }),
      ),
    );
    assert.equal(unknown.filter((r) => r.status === 401).length, 4);
  });

  test('the session cookie is HttpOnly, SameSite=Strict and Secure (but on loopback HTTP); pages carry a strict CSP', async () => {
    const r = await postForm(`${tegami.url}/console/sign-in`, {
      email: ADMIN.email,
      password: ADMIN.password,
    });
    const local = r.headers.get('set-cookie') ?? '';
    assert.match(local, /HttpOnly/);
    assert.match(local, /SameSite=Strict/);
    assert.doesNotMatch(local, /Secure/, 'plain HTTP on a loopback address: no network to cross');
    // A TLS proxy that forwards Host 127.0.0.1 but says the browser used https: Secure.
    const proxied = await postForm(`${tegami.url}/console/sign-in`, ADMIN, {
      'x-forwarded-proto': 'https',
    });
    const secureCookie = proxied.headers.get('set-cookie') ?? '';
    assert.match(secureCookie, /; Secure/);
    // Over HTTPS the cookie is a `__Host-` one, which no sibling host or plain-HTTP page can set;
    // on loopback HTTP it keeps the plain name.
    assert.match(secureCookie, /^__Host-tegami_console=[^;]+; Path=\/;/);
    assert.match(local, /^tegami_console=[^;]+; Path=\/console;/);
    // A plain-named cookie from before the upgrade is ended over HTTPS.
    assert.match(secureCookie, /(^|, )tegami_console=; Path=\/console;[^,]*Max-Age=0/);
    const overHttps = (cookie: string) =>
      fetch(`${tegami.url}/console/messages`, {
        headers: { cookie, 'x-forwarded-proto': 'https' },
        redirect: 'manual',
      });
    assert.equal((await overHttps(secureCookie.split(';')[0] as string)).status, 200);
    // A session under the plain name, as a sibling host could plant it, is not read over HTTPS.
    const planted = `tegami_console=${(local.split(';')[0] as string).split('=')[1]}`;
    const refused = await overHttps(planted);
    assert.equal(refused.status, 303);
    assert.match(refused.headers.get('location') ?? '', /^\/console\/sign-in/);
    // Any other host name (behind a TLS proxy that keeps the Host header): Secure.
    const port = new URL(tegami.url).port;
    const cookie = await new Promise<string>((resolve, reject) => {
      const body = new URLSearchParams(ADMIN).toString();
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/console/sign-in',
          headers: {
            host: 'console.example.jp',
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          resolve(String(res.headers['set-cookie'] ?? ''));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Secure/);
    const page = await admin.get('/console/messages');
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
  });

  test('a change needs the CSRF token of the session, from this site', async () => {
    const operator = await signIn(tegami.url, 'operator@example.jp', PASSWORD);
    const none = await operator.post(
      `/console/messages/${hotelMessage}/cancel`,
      {},
      { csrf: null },
    );
    assert.equal(none.status, 403);
    const other = await operator.post(
      `/console/messages/${hotelMessage}/cancel`,
      {},
      { csrf: admin.csrf },
    );
    assert.equal(other.status, 403, "another session's token is refused");
    const site = await operator.post(
      `/console/messages/${hotelMessage}/cancel`,
      {},
      { headers: { origin: 'https://evil.example' } },
    );
    assert.equal(site.status, 403);
    // An Origin that is no URL cannot be this console's own.
    const malformed = await operator.post(
      `/console/messages/${hotelMessage}/cancel`,
      {},
      { headers: { origin: 'garbage' } },
    );
    assert.equal(malformed.status, 403, malformed.text);
    const signInFromNowhere = await postForm(
      `${tegami.url}/console/sign-in`,
      { email: ADMIN.email, password: ADMIN.password },
      { origin: 'x' },
    );
    assert.equal(signInFromNowhere.status, 403);
    // Login CSRF: another site's page posts a form to its own address, which answers 307 to the
    // console's sign-in. The browser keeps the POST and says `Origin: null`, `Sec-Fetch-Site:
    // cross-site`; either alone is refused, so the visitor is not signed in to the attacker's
    // account.
    const crossSite: Record<string, string>[] = [
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of crossSite) {
      const redirected = await postForm(
        `${tegami.url}/console/sign-in`,
        { email: ADMIN.email, password: ADMIN.password },
        headers,
      );
      assert.equal(redirected.status, 403, JSON.stringify(headers));
      assert.equal(redirected.headers.get('set-cookie'), null, 'no session cookie');
    }
    const fromItself = await postForm(
      `${tegami.url}/console/sign-in`,
      { email: ADMIN.email, password: ADMIN.password },
      { origin: new URL(tegami.url).origin, 'sec-fetch-site': 'same-origin' },
    );
    assert.equal(fromItself.status, 303, 'the console’s own form signs in');
  });

  test('password checks take turns: a flood of sign-ins from one client is answered 429 beyond 4 waiting, and turns no other client away', async () => {
    // Another client: a second loopback address.
    const fromElsewhere = async () =>
      (
        await postFormFrom('127.0.0.2', `${tegami.url}/console/sign-in`, {
          email: ADMIN.email,
          password: ADMIN.password,
        })
      ).status;
    // On a busy machine the 40 requests may reach the server spread over time, so that more than
    // 5 are checked one after another; the limit shows on a flood that arrives at once, which
    // one of three will. A server without the limit turns none of them away.
    let turnedAwayMost = 0;
    for (let flood = 0; flood < 3 && turnedAwayMost < 40 - 5; flood++) {
      const attempts = Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          postForm(`${tegami.url}/console/sign-in`, {
            email: `flood-${flood}-${i}@nowhere.example`,
            password: 'not the password',
          }),
        ),
      );
      const elsewhere = fromElsewhere();
      const answers = await attempts;
      assert.equal(await elsewhere, 303, 'another client signs in during the flood');
      const statuses = answers.map((a) => a.status);
      const turnedAway = answers.filter((a) => a.status === 429);
      for (const a of turnedAway) {
        assert.equal(a.headers.get('retry-after'), '5');
        assert.match(await a.text(), /Too many sign-ins at once/);
      }
      assert.ok(
        statuses.every((s) => s === 401 || s === 429),
        `each either checked (401) or turned away: ${statuses}`,
      );
      turnedAwayMost = Math.max(turnedAwayMost, turnedAway.length);
    }
    assert.ok(
      turnedAwayMost >= 40 - 5,
      `at most 1 running and 4 waiting: at most ${turnedAwayMost} of 40 turned away`,
    );
    // The turns are given back: a right password afterwards signs in.
    const after = await postForm(`${tegami.url}/console/sign-in`, {
      email: ADMIN.email,
      password: ADMIN.password,
    });
    assert.equal(after.status, 303);
  });

  test('text with NUL (U+0000) is refused with 400 and changes nothing, signed in or not', async () => {
    const signInWithNul = await postForm(`${tegami.url}/console/sign-in`, {
      email: 'nobody\u0000@example.jp',
      password: 'x',
    });
    assert.equal(signInWithNul.status, 400);
    const counts = () =>
      queryDatabase<Record<string, number>>(
        tegami.databaseUrl,
        `select (select count(*) from api_keys) as keys, (select count(*) from console_users) as users,
          (select count(*) from suppressions) as suppressions, (select count(*) from audit_events) as audit`,
      );
    const before = await counts();
    const refused: [string, Record<string, string> | null][] = [
      ['/console/keys', { name: 'a\u0000b', unit: unitIds.hotel as string }],
      ['/console/users', { email: 'b\u0000@example.jp', password: PASSWORD, role: 'viewer' }],
      ['/console/suppressions', { email: 'a\u0000b@example.jp' }],
      ['/console/unit', { unit: '\u0000' }],
      ['/console/suppressions?email=%00', null],
      ['/console/messages/%00', null],
      ['/console/messages?q=from:%00', null],
      ['/console/audit?actor=%00', null],
    ];
    for (const [path, fields] of refused) {
      const r = fields === null ? await admin.get(path) : await admin.post(path, fields);
      assert.equal(r.status, 400, `${path}: ${r.text.slice(0, 200)}`);
    }
    // However deep it sits: a JSON body may nest lists.
    const nested = await fetch(`${tegami.url}/console/recoveries`, {
      method: 'POST',
      headers: {
        cookie: admin.cookie,
        'content-type': 'application/json',
        'x-csrf-token': admin.csrf,
      },
      body: JSON.stringify({ q: [['from:\u0000x@example.jp']], action: 'retry' }),
    });
    assert.equal(nested.status, 400, await nested.text());
    assert.deepEqual(await counts(), before);
  });

  test('a repeated field, a field that is no text or a missing form is refused with 400 and changes nothing', async () => {
    const counts = () =>
      queryDatabase<Record<string, number>>(
        tegami.databaseUrl,
        `select (select count(*) from api_keys) as keys, (select count(*) from console_users) as users,
          (select count(*) from suppressions) as suppressions, (select count(*) from audit_events) as audit,
          (select count(*) from units) as units`,
      );
    const before = await counts();
    const repeated: [string, Record<string, string | string[]>][] = [
      ['/console/keys', { name: ['a', 'b'], unit: unitIds.hotel as string }],
      ['/console/units', { name: ['a', 'b'] }],
      ['/console/suppressions', { email: ['a@example.jp', 'b@example.jp'] }],
      ['/console/suppressions/remove', { email: 'a@example.jp', why: ['a', 'b'] }],
      ['/console/users', { email: 'new@example.jp', password: [PASSWORD, PASSWORD] }],
    ];
    for (const [path, fields] of repeated) {
      const r = await admin.post(path, fields);
      assert.equal(r.status, 400, `${path}: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /give it once/);
    }
    // The console's own forms never send JSON, but a script may: numbers are no text.
    for (const body of [
      { email: 1, password: PASSWORD, role: 'viewer' },
      { email: 'n@example.jp', password: 123456789012, role: 'viewer' },
      [{ email: 'n@example.jp' }],
    ]) {
      const r = await fetch(`${tegami.url}/console/users`, {
        method: 'POST',
        headers: {
          cookie: admin.cookie,
          'content-type': 'application/json',
          'x-csrf-token': admin.csrf,
        },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 400, await r.text());
    }
    for (const path of ['/console/keys', '/console/units', '/console/suppressions']) {
      const r = await fetch(`${tegami.url}${path}`, {
        method: 'POST',
        headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf },
      });
      assert.equal(r.status, 400, `${path} with no form: ${await r.text()}`);
    }
    for (const path of [
      '/console/messages?before=a&before=b',
      '/console/unsent?before=a&before=b',
      '/console/alerts?before=a&before=b',
      '/console/audit?actor=a&actor=b',
      '/console/suppressions?email=a@example.jp&email=b@example.jp',
      `/console/messages/${hotelMessage}?q=a&q=b`,
    ]) {
      const r = await admin.get(path);
      assert.equal(r.status, 400, `${path}: ${r.text.slice(0, 200)}`);
    }
    // An address the API would refuse is refused here too.
    for (const email of ['a@b', 'a\u0001b@example.jp', '"q"@example.jp']) {
      const r = await admin.post('/console/suppressions', { email });
      assert.equal(r.status, 400, `${JSON.stringify(email)}: ${r.text.slice(0, 200)}`);
    }
    const user = await admin.post('/console/users', {
      email: '<b>@example.jp',
      password: PASSWORD,
      role: 'viewer',
    });
    assert.equal(user.status, 400, user.text);
    // A unit that does not exist: refused, not dropped (the user would have had no unit at all).
    for (const units of ['unit_NOT_A_UNIT', [unitIds.hotel as string, 'unit_NOT_A_UNIT'], '']) {
      const r = await admin.post('/console/users', {
        email: 'nowhere@example.jp',
        password: PASSWORD,
        role: 'admin',
        units,
      });
      assert.equal(r.status, 400, `${JSON.stringify(units)}: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /A unit chosen does not exist \(any more\)/);
    }
    assert.deepEqual(await counts(), before);
    // A sign-in name need not be a mailable address: a local one is accepted.
    const local = await admin.post('/console/users', {
      email: 'ops@localhost',
      password: PASSWORD,
      role: 'viewer',
    });
    assert.equal(local.status, 303, local.text);
    assert.ok((await signIn(tegami.url, 'ops@localhost', PASSWORD)).cookie);
  });

  test('an admin of some units may not manage keys, units or users, which concern every unit', async () => {
    await createUser('hotel-admin@example.jp', {
      role: 'admin',
      units: unitIds.hotel as string,
      bodies: '1',
    });
    const hotelAdmin = await signIn(tegami.url, 'hotel-admin@example.jp', PASSWORD);
    const keysPage = await admin.get('/console/keys');
    const keyIds = [...keysPage.text.matchAll(/\/console\/keys\/(key_[0-9A-Z]+)\/revoke/g)].map(
      (m) => m[1] as string,
    );
    assert.ok(keyIds.length >= 3, 'the bootstrap key and two unit keys');
    for (const path of ['/console/keys', '/console/units', '/console/users']) {
      const r = await hotelAdmin.get(path);
      assert.equal(r.status, 403, `${path}: ${r.text.slice(0, 200)}`);
    }
    for (const id of keyIds) {
      const r = await hotelAdmin.post(`/console/keys/${id}/revoke`, {});
      assert.equal(r.status, 403, `${id}: ${r.text.slice(0, 200)}`);
    }
    for (const [path, form] of [
      ['/console/keys', { name: 'sneaky', unit: unitIds.hotel as string, admin: '1' }],
      ['/console/units', { name: 'sneaky' }],
      ['/console/users', { email: 'x@example.jp', password: PASSWORD, role: 'admin', units: '*' }],
      [`/console/units/${unitIds.restaurant}/alerts`, { muted: '1' }],
    ] as const) {
      const r = await hotelAdmin.post(path, form);
      assert.equal(r.status, 403, `${path}: ${r.text.slice(0, 200)}`);
    }
    // Every key still works; the pages it may not open are not offered to it.
    const after = await admin.get('/console/keys');
    assert.equal((after.text.match(/\/revoke#key-/g) ?? []).length, keyIds.length);
    assert.equal((await tegami.request('GET', '/v1/units')).status, 200);
    const overview = await hotelAdmin.get('/console');
    assert.doesNotMatch(overview.text, /href="\/console\/(keys|units|users)"/);
    assert.match(overview.text, /href="\/console\/webhooks"/);
    // Status webhooks of its own unit are its to manage; those of every unit or another are not.
    assert.equal((await hotelAdmin.get('/console/webhooks')).status, 200);
    const hook = { url: 'http://127.0.0.1:9/hotel-admin-hooks', events: 'message.sent' };
    for (const unit of ['', unitIds.restaurant as string]) {
      const r = await hotelAdmin.post('/console/webhooks', { ...hook, unit });
      assert.equal(r.status, 400, `unit ${JSON.stringify(unit)}: ${r.text.slice(0, 200)}`);
    }
    const own = await hotelAdmin.post('/console/webhooks', {
      ...hook,
      unit: unitIds.hotel as string,
    });
    assert.equal(own.status, 200, own.text.slice(0, 200));
    assert.match((await hotelAdmin.get('/console/webhooks')).text, /hotel-admin-hooks/);
    // The API's limit on a URL's length holds for the form too.
    const long = await hotelAdmin.post('/console/webhooks', {
      ...hook,
      url: `http://127.0.0.1:9/${'l'.repeat(2100)}`,
      unit: unitIds.hotel as string,
    });
    assert.equal(long.status, 400);
    assert.match(long.text, /“URL” must be at most 2,048 characters\./);
    assert.doesNotMatch((await hotelAdmin.get('/console/webhooks')).text, /l{2000}/);
    // Refused, the form comes back as typed, with what is wrong (as in Chromium:
    // console-refused-forms.test.ts).
    assert.match(long.text, /name="url" [^>]*value="http:\/\/127\.0\.0\.1:9\/l{2000}/);
  });

  test('after signing in, a next that is not a plain console path leads to the overview', async () => {
    for (const next of [
      '/console/日本',
      '/console?\r\nSet-Cookie: x=1',
      '/console/ x',
      '//evil',
      // Console paths on their face that a browser resolves to another part of the site.
      '/console/../v1/messages',
      '/console/%2e%2e/v1/messages',
      '/console/..\\v1',
    ]) {
      const r = await postForm(`${tegami.url}/console/sign-in`, { ...ADMIN, next });
      assert.equal(r.status, 303, JSON.stringify(next));
      assert.equal(r.headers.get('location'), '/console', JSON.stringify(next));
    }
    const kept = await postForm(`${tegami.url}/console/sign-in`, {
      ...ADMIN,
      next: '/console/messages?q=from%3Aguest%40example.jp',
    });
    assert.equal(kept.headers.get('location'), '/console/messages?q=from%3Aguest%40example.jp');
  });

  test('a webhook URL (often holding a token) is shown whole to admins only', async () => {
    const viewer = await signIn(tegami.url, 'viewer@example.jp', PASSWORD);
    // The hotel message's message.sent status webhook is queued once it is sent.
    const adminPage = await waitFor(async () => {
      const r = await admin.get(`/console/messages/${hotelMessage}`);
      return r.text.includes('<strong>Status webhook</strong>') ? r : null;
    }, 'the status webhook in the timeline');
    assert.match(adminPage.text, /to http:\/\/127\.0\.0\.1:9\/hotel-hooks/);
    const viewerPage = await viewer.get(`/console/messages/${hotelMessage}`);
    assert.equal(viewerPage.status, 200);
    assert.match(viewerPage.text, /to http:\/\/127\.0\.0\.1:9\/…/);
    assert.ok(!viewerPage.text.includes('hotel-hooks'), 'no path for a viewer');
    const audit = await viewer.get('/console/audit?action=webhook_endpoint.create');
    assert.equal(audit.status, 200);
    assert.ok(!audit.text.includes('hotel-hooks'), 'nor in the audit log');
    const adminAudit = await admin.get('/console/audit?action=webhook_endpoint.create');
    assert.ok(adminAudit.text.includes('hotel-hooks'), 'an admin sees it');
  });

  test('a viewer reads but is refused every change, even a forged request; admin pages too', async () => {
    const viewer = await signIn(tegami.url, 'viewer@example.jp', PASSWORD);
    const page = await viewer.get(`/console/messages/${hotelMessage}`);
    assert.equal(page.status, 200);
    for (const path of [
      `/console/messages/${hotelMessage}/cancel`,
      `/console/messages/${hotelMessage}/retry`,
      '/console/recoveries',
      '/console/suppressions',
    ]) {
      const r = await viewer.post(path, {
        q: 'status:failed',
        action: 'retry',
        email: 'x@example.jp',
      });
      assert.equal(r.status, 403, `${path}: ${r.text.slice(0, 200)}`);
    }
    // Forbidden whatever the body holds: a JSON body of numbers, or a field given twice.
    const json = await fetch(`${tegami.url}/console/recoveries`, {
      method: 'POST',
      headers: {
        cookie: viewer.cookie,
        'content-type': 'application/json',
        'x-csrf-token': viewer.csrf,
      },
      body: JSON.stringify({ q: 'reason:failed', action: 'retry', confirm: 1 }),
    });
    assert.equal(json.status, 403, await json.text());
    const repeated = await viewer.post(`/console/messages/${hotelMessage}/retry`, {
      x: ['1', '2'],
    });
    assert.equal(repeated.status, 403, repeated.text);
    // The dry run changes nothing (a GET), but is an operator's step too.
    const dryRun = await viewer.get('/console/recoveries/dry-run?q=reason%3Afailed&action=retry');
    assert.equal(dryRun.status, 403, dryRun.text.slice(0, 200));
    const postedDryRun = await viewer.post('/console/recoveries/dry-run', {
      q: 'reason:failed',
      action: 'retry',
    });
    assert.equal(postedDryRun.status, 403, postedDryRun.text.slice(0, 200));
    // An operator's page from before the dry run was a GET still posts it: it is sent there.
    const operatorDryRun = await admin.post('/console/recoveries/dry-run', {
      q: 'reason:failed',
      action: 'retry',
    });
    assert.equal(operatorDryRun.status, 303, operatorDryRun.text.slice(0, 200));
    assert.equal(
      operatorDryRun.location,
      '/console/recoveries/dry-run?q=reason%3Afailed&action=retry',
    );
    for (const path of ['/console/keys', '/console/users', '/console/units']) {
      assert.equal((await viewer.get(path)).status, 403, path);
    }
    const rows = await queryDatabase<{ n: number }>(
      tegami.databaseUrl,
      "select count(*) as n from audit_events where actor_type = 'console' and action like 'message.%'",
    );
    assert.equal(Number(rows[0]?.n), 0, 'nothing was done');
  });

  test("an admin sets a unit's Slack channel and thresholds on the units page; the URL is never shown", async () => {
    const admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    const units = await tegami.request('GET', '/v1/units');
    const hotel = (units.body.data as { id: string; name: string }[]).find(
      (u) => u.name === 'hotel',
    );
    assert.ok(hotel);
    const secret = 'http://127.0.0.1:9/services/T0/B0/console-secret-token';
    const saved = await admin.post(`/console/units/${hotel.id}/alerts`, {
      slack_webhook_url: secret,
      delay_s: '120',
      dead_letters: '',
      muted: '',
    });
    assert.equal(saved.status, 303, saved.text.slice(0, 300));
    const api = await tegami.request('GET', `/v1/units/${hotel.id}`);
    assert.deepEqual(api.body.alerts.thresholds, { delay_s: 120 });
    assert.equal(api.body.alerts.slack_webhook_url, 'http://127.0.0.1:9/services/…');
    // Another unit's own thresholds, to see each row shows its own unit's settings.
    const restaurant = unitIds.restaurant as string;
    await admin.post(`/console/units/${restaurant}/alerts`, { dead_letters: '7', muted: '1' });
    const page = await admin.get('/console/units');
    assert.equal(page.status, 200);
    assert.ok(!page.text.includes('console-secret-token'), 'the URL is a credential');
    const rowOf = (unitId: string) => {
      const row = page.text
        .split(/<tr[ >]/)
        .find((r) => r.includes(`action="/console/units/${unitId}/alerts#unit-${unitId}"`));
      assert.ok(row, unitId);
      return row;
    };
    const hotelRow = rowOf(hotel.id);
    assert.match(hotelRow, /placeholder="http:\/\/127\.0\.0\.1:9\/services\/…"/, 'masked');
    assert.match(hotelRow, /name="delay_s" [^>]*value="120"/);
    assert.match(hotelRow, /name="dead_letters" [^>]*value=""/);
    assert.doesNotMatch(hotelRow, /checked/);
    const restaurantRow = rowOf(restaurant);
    assert.match(restaurantRow, /placeholder="the global channel"/);
    assert.match(restaurantRow, /name="delay_s" [^>]*value=""/);
    assert.match(restaurantRow, /name="dead_letters" [^>]*value="7"/);
    assert.match(restaurantRow, /name="muted" value="1" checked/);
    // A form with every field empty puts the unit back on the global values.
    await admin.post(`/console/units/${restaurant}/alerts`, {});
    const reset = await tegami.request('GET', `/v1/units/${restaurant}`);
    assert.deepEqual(reset.body.alerts, { slack_webhook_url: null, thresholds: {} });
    // An emptied field goes back to the global value; the channel can go back to the global one.
    await admin.post(`/console/units/${hotel.id}/alerts`, { delay_s: '', remove_slack: '1' });
    const cleared = await tegami.request('GET', `/v1/units/${hotel.id}`);
    assert.deepEqual(cleared.body.alerts, { slack_webhook_url: null, thresholds: {} });
    const bad = await admin.post(`/console/units/${hotel.id}/alerts`, { delay_s: 'soon' });
    assert.equal(bad.status, 400);
    assert.match(
      bad.text,
      /“Delay alert after \(s\)” must be a whole number of seconds from 1 to 2,592,000 \(30 days\): “soon” is not one\./,
    );
    // The API's limits hold for the form too, said in the form's words, and a refused form
    // changes nothing.
    for (const [fields, problem] of [
      [
        { delay_s: '9999999999' },
        /“Delay alert after \(s\)” must be a whole number of seconds from 1 to 2,592,000 \(30 days\): 9999999999 is more\./,
      ],
      [{ delay_s: '0' }, /“Delay alert after \(s\)” must be a whole number of seconds from 1 /],
      [
        { dead_letters: '9999999999' },
        /“Dead letters over” must be a whole number from 0 to 1,000,000,000: 9999999999 is more\./,
      ],
      [
        { slack_webhook_url: `http://127.0.0.1:9/${'a'.repeat(3000)}` },
        /“Slack channel” must be at most 2,048 characters\./,
      ],
    ] as const) {
      const refusedForm = await admin.post(`/console/units/${hotel.id}/alerts`, fields);
      assert.equal(refusedForm.status, 400, JSON.stringify(fields));
      assert.match(refusedForm.text, problem);
    }
    const unchanged = await tegami.request('GET', `/v1/units/${hotel.id}`);
    assert.deepEqual(unchanged.body.alerts, { slack_webhook_url: null, thresholds: {} });
    const viewer = await signIn(tegami.url, 'viewer@example.jp', PASSWORD);
    const refused = await viewer.post(`/console/units/${hotel.id}/alerts`, { delay_s: '1' });
    assert.equal(refused.status, 403);
    const audit = await tegami.request('GET', '/v1/audit-events?action=unit.update');
    assert.ok(audit.body.data.length >= 2);
    assert.equal(audit.body.data[0].actor.type, 'console');
    assert.ok(!JSON.stringify(audit.body).includes('console-secret-token'));
  });

  test("a user of one unit never sees another unit's mail", async () => {
    const hotel = await signIn(tegami.url, 'hotel@example.jp', PASSWORD);
    const own = await hotel.get('/console/messages?q=to%3Aguest%40example.jp');
    assert.match(own.text, new RegExp(hotelMessage));
    const other = await hotel.get('/console/messages?q=to%3Adiner%40example.jp');
    assert.doesNotMatch(other.text, new RegExp(restaurantMessage));
    assert.doesNotMatch(other.text, /Dinner/);
    assert.equal((await hotel.get(`/console/messages/${restaurantMessage}`)).status, 404);
    assert.equal((await hotel.get(`/console/messages/${restaurantMessage}/html`)).status, 404);
    assert.equal(
      (await hotel.get(`/console/messages?q=id%3A${restaurantMessage}`)).text.includes('Dinner'),
      false,
    );
    const unit = await hotel.get('/console/messages?q=unit%3Arestaurant');
    assert.doesNotMatch(unit.text, /Dinner/);
    const cancel = await hotel.post(`/console/messages/${restaurantMessage}/cancel`, {});
    assert.equal(cancel.status, 404);
  });

  test('a user of two units switches between them, and sees one at a time', async () => {
    await admin.post('/console/users', {
      email: 'both@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: [unitIds.hotel as string, unitIds.restaurant as string],
      bodies: '1',
    });
    const both = await signIn(tegami.url, 'both@example.jp', PASSWORD);
    const search = async (q: string) =>
      (await both.get(`/console/messages?q=${encodeURIComponent(q)}`)).text;
    assert.match(await search('to:guest@example.jp'), new RegExp(hotelMessage));
    assert.doesNotMatch(await search('to:diner@example.jp'), new RegExp(restaurantMessage));
    const switched = await both.post('/console/unit', { unit: unitIds.restaurant as string });
    assert.equal(switched.status, 303);
    assert.match(await search('to:diner@example.jp'), new RegExp(restaurantMessage));
    assert.doesNotMatch(await search('to:guest@example.jp'), new RegExp(hotelMessage));
    const defaultUnit = (await tegami.request('GET', '/v1/units')).body.data.find(
      (u: { name: string }) => u.name === 'default',
    );
    const refused = await both.post('/console/unit', { unit: defaultUnit.id });
    assert.equal(refused.status, 404, 'not one of its units');
    // A user of every unit has no unit to switch to: nothing it sends lands on its session.
    const sessionUnits = async () =>
      (
        await queryDatabase<{ unit_id: string | null }>(
          tegami.databaseUrl,
          'select unit_id from console_sessions order by unit_id',
        )
      ).map((r) => r.unit_id);
    const unitsBefore = await sessionUnits();
    for (const unit of [defaultUnit.id, 'x'.repeat(5_000)]) {
      const r = await admin.post('/console/unit', { unit });
      assert.equal(r.status, 404, `a user of every unit switching to ${unit.slice(0, 20)}`);
    }
    assert.deepEqual(await sessionUnits(), unitsBefore);

    // The switcher works without JavaScript (a button submits it), and keeps the section: a user
    // switching units on the unsent view stays on the unsent view.
    const unsent = (await both.get('/console/unsent')).text;
    const switcher = /<form method="post" action="\/console\/unit"[\s\S]*?<\/form>/.exec(
      unsent,
    )?.[0];
    assert.ok(switcher, 'the unit switcher');
    assert.match(switcher, /<button type="submit"[^>]*>Show<\/button>/);
    assert.match(switcher, /<input type="hidden" name="next" value="\/console\/unsent">/);
    const stay = await both.post('/console/unit', {
      unit: unitIds.hotel as string,
      next: '/console/unsent',
    });
    assert.equal(stay.location, '/console/unsent');
    const away = await both.post('/console/unit', {
      unit: unitIds.hotel as string,
      next: 'https://evil.example/console',
    });
    assert.equal(away.location, '/console', 'only a console path');
  });

  test("a message's timeline shows its attempts and the status webhooks about it", async () => {
    await waitFor(async () => {
      const page = await admin.get(`/console/messages/${hotelMessage}`);
      return page.text.includes('<strong>Status webhook</strong>') ? page : null;
    }, 'the status webhook in the timeline').then((page) => {
      assert.match(page.text, /Attempt 1/);
      assert.match(page.text, /message\.sent to http:\/\/127\.0\.0\.1:9\/hotel-hooks/);
    });
    const other = await admin.get(`/console/messages/${restaurantMessage}`);
    assert.doesNotMatch(
      other.text,
      /<strong>Status webhook<\/strong>/,
      "the hotel's endpoint gets no restaurant mail",
    );
  });

  test("alerts: firing and past, a unit's user sees its unit's and provider-wide ones only", async () => {
    const store = createAlertStore(tegami.service.database);
    const now = Date.now();
    const alert = (key: string, unitId: string | null, summary: string): Alert =>
      firingAlert({
        key,
        rule: 'dead_letters',
        severity: 'warning',
        unitId,
        provider: null,
        fault: 'message',
        summary,
        hint: 'look at the unsent view',
        evidence: {
          count: 3,
          threshold: 1,
          since: now,
          topErrors: [{ errorClass: 'http_400', count: 3, sample: 'invalid from address' }],
          provider: null,
          details: { oldest_age_s: 75 },
        },
      });
    assert.ok(
      await store.open(
        alert('dead_letters:restaurant', unitIds.restaurant ?? '', 'レストランの未送信'),
        [],
      ),
    );
    assert.ok(await store.open(alert('provider_failing:x', null, 'provider down'), []));
    const page = await admin.get('/console/alerts');
    assert.equal(page.status, 200);
    assert.match(page.text, /レストランの未送信/);
    assert.match(page.text, /provider down/);
    // The evidence in words, not the stored JSON with its epoch milliseconds.
    assert.match(page.text, /<dt>Count<\/dt><dd>3 \(threshold 1\)<\/dd>/);
    assert.match(page.text, /http_400 × 3/);
    assert.match(page.text, /<dt>oldest age s<\/dt><dd>75<\/dd>/);
    assert.doesNotMatch(page.text, new RegExp(`"since": ${now}`));
    const overview = await admin.get('/console');
    assert.match(overview.text, /data-tile="alerts">2</);
    const hotel = await signIn(tegami.url, 'hotel@example.jp', PASSWORD);
    const hotelPage = await hotel.get('/console/alerts');
    assert.match(hotelPage.text, /provider down/);
    assert.doesNotMatch(hotelPage.text, /レストランの未送信/);
  });

  test('a metadata-only user sees no content', async () => {
    const meta = await signIn(tegami.url, 'viewer@example.jp', PASSWORD);
    assert.equal((await meta.get(`/console/messages/${hotelMessage}/html`)).status, 200);
    // meta@example.jp is locked by the first test; a fresh one:
    await admin.post('/console/users', {
      email: 'meta2@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: '*',
    });
    const metaOnly = await signIn(tegami.url, 'meta2@example.jp', PASSWORD);
    const page = await metaOnly.get(`/console/messages/${hotelMessage}`);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /<iframe/);
    assert.doesNotMatch(page.text, /ようこそ/);
    assert.equal((await metaOnly.get(`/console/messages/${hotelMessage}/html`)).status, 403);
    assert.equal((await metaOnly.get(`/console/messages/${hotelMessage}/raw`)).status, 403);
  });

  test('the HTML part is served alone with a CSP that runs no script and loads no remote image', async () => {
    const r = await admin.get(`/console/messages/${hotelMessage}/html`);
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /img-src data:;/);
    assert.match(csp, /sandbox/);
    const once = await admin.get(`/console/messages/${hotelMessage}/html?images=1`);
    assert.match(once.headers.get('content-security-policy') ?? '', /img-src data: https: http:/);
    assert.doesNotMatch(once.headers.get('content-security-policy') ?? '', /script-src/);
  });

  test('search: from:, a negated term, the overview numbers', async () => {
    const from = await admin.get(
      `/console/messages?q=${encodeURIComponent('from:BOOKINGS@hotel.example')}`,
    );
    assert.match(from.text, new RegExp(hotelMessage));
    assert.match(from.text, new RegExp(restaurantMessage));
    const not = await admin.get(
      `/console/messages?q=${encodeURIComponent('-to:guest@example.jp')}`,
    );
    assert.doesNotMatch(not.text, new RegExp(hotelMessage));
    assert.match(not.text, new RegExp(restaurantMessage));
    const notProvider = await admin.get(
      `/console/messages?q=${encodeURIComponent('-provider:nowhere -category:x')}`,
    );
    assert.match(notProvider.text, new RegExp(hotelMessage), 'an empty column is not excluded');
    // A search not understood is refused, as the unsent view's filter is: 400, the problem
    // beside the box that keeps it, and no list that would read as "no such mail".
    const bad = await admin.get(`/console/messages?q=${encodeURIComponent('colour:red error:')}`);
    assert.equal(bad.status, 400);
    const notice =
      /<div class="error form-error" role="alert" id="search-error">([\s\S]*?)<\/div>/.exec(
        bad.text,
      )?.[1];
    assert.ok(notice, bad.text.slice(0, 500));
    assert.deepEqual(
      [...notice.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]),
      [
        'colour: is not a search key (to, from, subject, status, reason, unit, category, provider, error, event, before, after, id, recovery, meta.KEY)',
        'error: needs a value',
      ],
    );
    assert.match(
      bad.text,
      /name="q" value="colour:red error:"[^>]* aria-invalid="true" aria-describedby="search-error"/,
    );
    assert.doesNotMatch(bad.text, /<table class="list messages"|No message matches/);
    assert.doesNotMatch(bad.text, new RegExp(hotelMessage));
    assert.equal(
      (await admin.get(`/console/messages.csv?q=${encodeURIComponent('error:')}`)).status,
      400,
    );
    const overview = await fetch(`${tegami.url}/console/overview.json`, {
      headers: { cookie: admin.cookie, accept: 'application/json' },
    });
    assert.equal(overview.status, 200);
    const data = (await overview.json()) as { chart: { accepted: number[]; minutes: number[] } };
    assert.equal(data.chart.minutes.length, 60);
    assert.ok(data.chart.accepted.reduce((a, b) => a + b, 0) >= 2, 'the messages of this test');
  });

  test('CSV export: one row per message, formulas made inert', async () => {
    const r = await admin.get('/console/messages.csv?q=to%3Aguest%40example.jp');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/csv/);
    assert.ok(r.text.includes(`"'=HYPERLINK(""http://evil.example"",""ご予約"")"`), r.text);
  });

  test('console actions are in the audit log with the console user as actor', async () => {
    const operator = await signIn(tegami.url, 'operator@example.jp', PASSWORD);
    const add = await operator.post('/console/suppressions', {
      email: 'gone@example.jp',
      reason: 'manual',
    });
    assert.equal(add.status, 303, add.text);
    await waitFor(async () => {
      const rows = await queryDatabase<{ actor_type: string; actor_name: string }>(
        tegami.databaseUrl,
        "select actor_type, actor_name from audit_events where action = 'suppression.add' and target = 'gone@example.jp'",
      );
      return rows.length === 1 ? rows : null;
    }, 'the audit event').then((rows) => {
      assert.deepEqual(rows[0], { actor_type: 'console', actor_name: 'operator@example.jp' });
    });
    const audit = await admin.get('/console/audit?action=suppression.add');
    assert.match(audit.text, /operator@example\.jp/);
  });

  test('an admin adds a status webhook endpoint (secret shown once) and deletes it', async () => {
    const created = await admin.post('/console/webhooks', {
      url: 'http://127.0.0.1:9/hooks',
      events: ['message.sent', 'message.failed'],
      unit: unitIds.hotel as string,
    });
    assert.equal(created.status, 200, created.text);
    assert.match(created.text, /data-new-secret>[\w-]{40,}</);
    const list = await admin.get('/console/webhooks');
    const id = /\/console\/webhooks\/(whk_[0-9A-Z]+)\/delete/.exec(list.text)?.[1];
    assert.ok(id, 'listed with a delete button');
    const bad = await admin.post('/console/webhooks', {
      url: 'ftp://x.example',
      events: 'message.sent',
    });
    assert.equal(bad.status, 400);
    const viewer = await signIn(tegami.url, 'viewer@example.jp', PASSWORD);
    assert.equal((await viewer.post(`/console/webhooks/${id}/delete`, {})).status, 403);
    assert.equal((await admin.post(`/console/webhooks/${id}/delete`, {})).status, 303);
    // No longer an endpoint to act on (a deleted one's log may still be listed, under Deleted).
    assert.doesNotMatch(
      (await admin.get('/console/webhooks')).text,
      new RegExp(`/console/webhooks/${id}/(delete|redeliver|rotate-secret)`),
    );
    const audit = await admin.get('/console/audit?action=webhook_endpoint.delete');
    assert.match(audit.text, new RegExp(id));
  });

  test('tegami users create reads the password from standard input; the user signs in', async () => {
    const run = (args: string[], input: string) =>
      runTegami(['users', ...args], { TEGAMI_DATABASE_URL: tegami.databaseUrl }, { input });
    const created = await run(
      ['create', '--email', 'CLI@example.jp', '--role', 'operator', '--unit', 'hotel'],
      `${PASSWORD}\n`,
    );
    assert.equal(created.code, 0, created.output);
    assert.match(created.output, /Created operator cli@example\.jp/);
    const short = await run(['create', '--email', 'short@example.jp'], 'short\n');
    assert.equal(short.code, 2, short.output);
    assert.match(short.output, /password: must be 12/);
    // Only the first line is read, and never more than a password's worth of an endless input.
    const lines = await run(['create', '--email', 'two@example.jp'], `${PASSWORD}\nsecond line\n`);
    assert.equal(lines.code, 0, lines.output);
    const endless = await run(['create', '--email', 'long@example.jp'], 'y'.repeat(200_000));
    assert.equal(endless.code, 2, endless.output);
    assert.match(endless.output, /password: must be 12 to 1024/);
    const listed = await run(['list'], '');
    assert.match(listed.output, /cli@example\.jp\s+operator\s+hotel/);
    const cli = await signIn(tegami.url, 'cli@example.jp', PASSWORD);
    assert.equal((await cli.get(`/console/messages/${restaurantMessage}`)).status, 404);
    const audit = await admin.get('/console/audit?action=user.create');
    assert.match(audit.text, /<span class="muted actor-kind">· command line<\/span>/);
  });

  test('sign-out everywhere ends every session of the user', async () => {
    const one = await signIn(tegami.url, 'operator@example.jp', PASSWORD);
    const two = await signIn(tegami.url, 'operator@example.jp', PASSWORD);
    assert.equal((await two.get('/console')).status, 200);
    const r = await one.post('/console/sign-out-everywhere', {});
    assert.equal(r.status, 303);
    assert.equal((await two.get('/console')).status, 303);
    assert.equal((await one.get('/console')).status, 303);
  });
  test('an admin key is audited with no unit, and a second revoke changes and records nothing', async () => {
    const r = await admin.post('/console/keys', {
      name: 'ops admin',
      unit: unitIds.hotel ?? '',
      admin: '1',
    });
    assert.equal(r.status, 200, r.text);
    const created = await tegami.request('GET', '/v1/audit-events?action=key.create&limit=1');
    const event = created.body.data[0];
    assert.equal(event.actor.type, 'console');
    assert.equal(event.unit, null, 'an admin key acts on every unit, as the CLI records it');
    assert.equal(event.filter.admin, true);
    assert.equal(event.filter.name, 'ops admin');
    const id = event.target as string;
    assert.equal((await admin.post(`/console/keys/${id}/revoke`, {})).status, 303);
    const again = await admin.post(`/console/keys/${id}/revoke`, {});
    assert.equal(again.status, 404);
    assert.match(again.text, /No such active key/);
    const revoked = await tegami.request('GET', '/v1/audit-events?action=key.revoke');
    const mine = (revoked.body.data as { target: string; unit: string | null }[]).filter(
      (e) => e.target === id,
    );
    assert.equal(mine.length, 1, 'one key.revoke event');
    assert.equal(mine[0]?.unit, null);
  });
  test('an admin creates a key whose mail is bulk unless it says otherwise', async () => {
    const r = await admin.post('/console/keys', {
      name: 'hotel newsletter',
      unit: unitIds.hotel ?? '',
      priority: 'bulk',
    });
    assert.equal(r.status, 200, r.text);
    const key = /data-new-key>([^<]+)</.exec(r.text)?.[1] ?? '';
    assert.match(r.text, /hotel newsletter<\/td>.*?, bulk priority/s);
    const sent = await request(tegami.url, 'POST', '/v1/messages', message(), {}, key);
    assert.equal(sent.status, 202);
    const stored = await tegami.request('GET', `/v1/messages/${sent.body.id}`);
    assert.equal(stored.body.priority, 'bulk');
    const bad = await admin.post('/console/keys', {
      name: 'x',
      unit: unitIds.hotel ?? '',
      priority: 'soon',
    });
    assert.equal(bad.status, 400);
  });
});
