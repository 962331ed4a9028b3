import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  createUnitWithKey,
  message,
  queryDatabase,
  request,
  startTestService,
  TEST_ENGINE,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type ConsoleClient, postFormFrom, signIn } from './support/console.ts';
import { fuzzRuns } from './support/fuzz.ts';
import { rowCounts } from './support/row-counts.ts';

/**
 * A property test of every console route, found by reading the console's source (so a new page
 * is fuzzed without anyone listing it): hostile path parameters, query strings and form fields,
 * sent by an admin, an operator of every unit, a viewer of one unit or nobody, with the right
 * CSRF token, a wrong one or none. Whatever is sent:
 * - the console never answers 5xx;
 * - nothing sent comes back as markup (an `<x-fuzz>` element in the input never appears
 *   unescaped in a page), and a redirect never leaves the console's own origin;
 * - a refused request (4xx) adds or removes no row anywhere;
 * - the viewer of one unit never sees another unit's mail;
 * - every answer carries the console's security headers.
 * The service runs without a delivery worker (the messages' states are made by a first run with
 * one) so that no row changes behind a request's back.
 */

const SRC = new URL('../src/console/', import.meta.url);
const ADMIN = { email: 'fuzz-admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';
/** In the restaurant's mail only: a page that shows it to the hotel's viewer leaks it. */
const RESTAURANT_MARK = 'zq81restaurant';
const MARKUP = '<x-fuzz';
/** Pages anyone may fetch. */
const PUBLIC = new Set(['/console/sign-in', '/console/static/:file']);
/** The query a page needs to show anything at all. */
const PLAIN_QUERY: Record<string, string> = {
  '/console/recoveries/dry-run': '?q=status%3Afailed&action=retry',
};

/**
 * A request each page or form accepts, so that hostile values also reach the code behind the
 * checks (and are stored, then shown on other pages) instead of only being refused.
 */
function validFields(route: Route, units: { hotel: string }): Fields {
  const key = `${route.method} ${route.path}`;
  const templates: Record<string, Fields> = {
    'GET /console/messages': [['q', 'status:failed to:@example.jp']],
    'GET /console/messages.csv': [['q', 'subject:booking']],
    'GET /console/unsent': [['q', 'reason:failed']],
    'GET /console/recoveries/dry-run': [
      ['q', 'status:failed'],
      ['action', 'retry'],
    ],
    'GET /console/audit': [
      ['after', '2020-01-01'],
      ['action', 'suppression.add'],
    ],
    'GET /console/suppressions': [['email', 'guest@example.jp']],
    'POST /console/recoveries/dry-run': [
      ['q', 'status:failed'],
      ['action', 'retry'],
    ],
    'POST /console/recoveries': [
      ['q', 'status:failed'],
      ['action', 'retry'],
      ['confirm', '1'],
    ],
    'POST /console/units': [['name', 'spa']],
    'POST /console/keys': [
      ['name', 'spa app'],
      ['unit', units.hotel],
    ],
    'POST /console/users': [
      ['email', 'new-user@example.jp'],
      ['password', 'a-long-password-123'],
      ['role', 'viewer'],
      ['units', units.hotel],
    ],
    'POST /console/suppressions': [
      ['email', 'unsubscribed@example.jp'],
      ['reason', 'manual'],
    ],
    'POST /console/suppressions/remove': [
      ['email', 'unsubscribed@example.jp'],
      ['why', 'asked to be sent mail again'],
    ],
    'POST /console/webhooks': [
      ['url', 'http://127.0.0.1:9/hooks'],
      ['events', 'message.sent'],
      ['unit', units.hotel],
    ],
    'GET /console/units': [['after', units.hotel]],
    'POST /console/units/:id/alerts': [
      ['delay_s', '300'],
      ['dead_letters', '0'],
      ['after', units.hotel],
    ],
    'POST /console/webhooks/:id/redeliver': [['after', '2020-01-01T00:00:00Z']],
    'POST /console/unit': [['unit', units.hotel]],
    'POST /console/providers/:name/probe': [['back', '/console/unsent?q=reason%3Aheld']],
  };
  return templates[key] ?? [];
}

interface Route {
  method: 'GET' | 'POST';
  path: string;
}

/** The console's routes as its source registers them: `app.get('/console/…'` and the like. */
function consoleRoutes(): Route[] {
  const files: string[] = [];
  const walk = (dir: URL) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith('.ts')) files.push(join(dir.pathname, entry.name));
    }
  };
  walk(SRC);
  const routes: Route[] = [];
  const pattern = /\b(?:app|scope)\.(get|post)\s*(?:<[^(]*?>)?\(\s*'(\/console[^']*)'/g;
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(pattern)) {
      routes.push({
        method: (m[1] as string).toUpperCase() as Route['method'],
        path: m[2] as string,
      });
    }
  }
  return routes;
}

/** Text an attacker or a confused user might put anywhere. */
/**
 * Markup that must come back escaped wherever it is shown. None holds RESTAURANT_MARK: what an
 * admin stores in the hotel's unit (a recovery's filter, a suppression) is the hotel viewer's
 * to see, so a mark sent in a request could come back there without any leak.
 */
const MARKUPS = [
  `"><x-fuzz a=1>`,
  `</textarea><x-fuzz>`,
  `'><x-fuzz onload=1>`,
  '<x-fuzz>&amp;lt;',
  'guest+<x-fuzz>@example.jp',
];

const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(...MARKUPS),
  fc.constantFrom(
    '',
    ' ',
    '*',
    '%',
    '_',
    '\\',
    '0',
    '-1',
    '1e309',
    '99999999999999999999',
    'NaN',
    'true',
    'null',
    '[]',
    '{}',
    '2026-13-45',
    '2026-12-05T25:00',
    '1970-01-01',
    '9999-12-31T23:59:59Z',
    'javascript:alert(1)',
    '//evil.example/x',
    'https://evil.example/',
    '/\\evil.example',
    '/console/../../etc/passwd',
    '%2e%2e%2f',
    'a\r\nSet-Cookie: x=1',
    'status:failed to:@example.jp',
    'to:diner@example.jp',
    'reason:failed unit:restaurant',
    'recovery:rec_0 status:failed -error:suppressed',
    'ご予約 田中',
    '\u202e\u200b\ufeff',
    'x'.repeat(1000),
  ),
);

/** Names of fields the console's pages read, and some they do not. */
const fieldName = fc.oneof(
  fc.constantFrom(
    'q',
    'page',
    'before',
    'after',
    'older',
    'cursor',
    'next',
    'back',
    'probed',
    'unit',
    'units',
    'reason',
    'status',
    'action',
    'typed',
    'count',
    'expected',
    'confirm',
    'since',
    'until',
    'from',
    'to',
    'id',
    'email',
    'password',
    'name',
    'role',
    'bodies',
    'url',
    'events',
    'entry',
    'scope',
    'delay_s',
    'dead_letters',
    'slack_webhook_url',
    'actor',
    'format',
  ),
  fc.string({ minLength: 1, maxLength: 12 }),
);

type Fields = [string, string][];

const fieldsArb: fc.Arbitrary<Fields> = fc.array(fc.tuple(fieldName, hostileText), {
  maxLength: 6,
});

type Who = 'admin' | 'operator' | 'viewer' | 'nobody';

interface Attempt {
  route: Route;
  who: Who;
  params: string[];
  query: Fields;
  form: Fields;
  csrf: 'right' | 'wrong' | 'none';
  origin: 'none' | 'same' | 'other';
}

describe(`console property test (${TEST_ENGINE})`, () => {
  const routes = consoleRoutes();
  const db = tempDatabase();
  let tegami: TestService;
  const clients = new Map<Who, ConsoleClient>();
  let hotelMessages: string[] = [];
  let restaurantMessages: string[] = [];
  let hotelUnit = '';
  let restaurantUnit = '';

  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_ADMIN_EMAIL: ADMIN.email,
    TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    TEGAMI_PROVIDER: 'test',
    TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    // Alerts are evaluated by the API process; once an hour keeps them out of the counted rows.
    TEGAMI_ALERT_INTERVAL_MS: '3600000',
  };

  async function signInAll() {
    clients.set('admin', await signIn(tegami.url, ADMIN.email, ADMIN.password));
    clients.set('operator', await signIn(tegami.url, 'fuzz-operator@example.jp', PASSWORD));
    clients.set('viewer', await signIn(tegami.url, 'fuzz-viewer@example.jp', PASSWORD));
  }

  before(async () => {
    // A first run with a delivery worker gives the mail its states: sent, failed, suppressed.
    const first = await startTestService(env);
    try {
      const hotel = await createUnitWithKey(first, 'hotel');
      const restaurant = await createUnitWithKey(first, 'restaurant');
      hotelUnit = hotel.id;
      restaurantUnit = restaurant.id;
      const submit = async (key: string, to: string, subject: string) => {
        const r = await request(
          first.url,
          'POST',
          '/v1/messages',
          message({ to: [{ email: to }], subject }),
          {},
          key,
        );
        assert.equal(r.status, 202, JSON.stringify(r.body));
        return r.body.id as string;
      };
      hotelMessages = [
        await submit(hotel.key, 'guest@example.jp', 'Your booking'),
        await submit(hotel.key, 'permanent@example.jp', 'Your booking <b>again</b>'),
      ];
      restaurantMessages = [
        await submit(
          restaurant.key,
          `diner-${RESTAURANT_MARK}@example.jp`,
          `Dinner ${RESTAURANT_MARK}`,
        ),
        await submit(restaurant.key, 'permanent@example.jp', `Table ${RESTAURANT_MARK}`),
      ];
      await waitFor(async () => {
        const rows = await queryDatabase<{ n: number | string }>(
          db.url,
          "select count(*) as n from messages where status in ('sent', 'failed')",
        );
        return Number(rows[0]?.n) === 4;
      }, 'the four messages sent or failed');
      const admin = await signIn(first.url, ADMIN.email, ADMIN.password);
      for (const [email, role, units] of [
        ['fuzz-operator@example.jp', 'operator', '*'],
        ['fuzz-viewer@example.jp', 'viewer', hotel.id],
      ] as const) {
        const r = await admin.post('/console/users', {
          email,
          password: PASSWORD,
          role,
          units,
          bodies: '1',
        });
        assert.equal(r.status, 303, r.text);
      }
      const hook = await admin.post('/console/webhooks', {
        url: 'http://127.0.0.1:9/restaurant-hooks',
        events: ['message.sent'],
        unit: restaurant.id,
      });
      assert.equal(hook.status, 200, hook.text);
      const suppression = await admin.post('/console/suppressions', {
        email: `blocked-${RESTAURANT_MARK}@example.jp`,
        unit: restaurant.id,
      });
      assert.ok(suppression.status < 400, suppression.text);
    } finally {
      await first.stop();
    }
    tegami = await startTestService({ ...env, TEGAMI_TEST_NO_WORKER: '1' });
    await signInAll();
  });
  after(async () => {
    await tegami?.stop();
    await db.cleanup();
  });

  test('the console source registers the routes this test knows how to reach', () => {
    assert.ok(routes.length >= 30, `found ${routes.length} routes`);
    for (const r of routes) {
      for (const param of r.path.match(/:[a-z]+/gi) ?? []) {
        assert.ok(
          [':id', ':file', ':n', ':name'].includes(param),
          `${r.method} ${r.path}: unknown ${param}`,
        );
      }
    }
  });

  function pathParam(name: string): fc.Arbitrary<string> {
    const ids = [...hotelMessages, ...restaurantMessages];
    if (name === ':file')
      return fc.oneof(fc.constantFrom('console.css', 'uplot.js', '..%2fpackage.json'), hostileText);
    if (name === ':n') return fc.oneof(fc.constantFrom('0', '1', '-1', '999999'), hostileText);
    // A provider: the configured one, one this deployment does not know, anything.
    if (name === ':name') return fc.oneof(fc.constantFrom('test', 'sendgrid'), hostileText);
    return fc.oneof(
      fc.constantFrom(...ids, hotelUnit, restaurantUnit, 'msg_0', 'key_x'),
      hostileText,
    );
  }

  /** Fields of a valid request with some values made hostile and some added, or any fields. */
  function fieldsFor(route: Route): fc.Arbitrary<Fields> {
    const valid = validFields(route, { hotel: hotelUnit });
    if (valid.length === 0) return fieldsArb;
    const edited = fc
      .tuple(
        fc.array(fc.option(hostileText, { freq: 2 }), {
          minLength: valid.length,
          maxLength: valid.length,
        }),
        fc.array(fc.tuple(fieldName, hostileText), { maxLength: 2 }),
      )
      .map(
        ([changes, extra]): Fields => [
          ...valid.map(([k, v], i): [string, string] => [k, changes[i] ?? v]),
          ...extra,
        ],
      );
    return fc.oneof({ weight: 3, arbitrary: edited }, { weight: 1, arbitrary: fieldsArb });
  }

  function attemptArb(route: Route): fc.Arbitrary<Attempt> {
    return fc.record({
      route: fc.constant(route),
      who: fc.constantFrom<Who>('admin', 'admin', 'operator', 'operator', 'viewer', 'nobody'),
      params: fc.tuple(...(route.path.match(/:[a-z]+/gi) ?? []).map(pathParam)),
      query: route.method === 'GET' ? fieldsFor(route) : fieldsArb,
      form: route.method === 'POST' ? fieldsFor(route) : fc.constant([]),
      csrf: fc.constantFrom<Attempt['csrf']>('right', 'right', 'right', 'right', 'wrong', 'none'),
      origin: fc.constantFrom<Attempt['origin']>('none', 'same', 'same', 'other'),
    });
  }

  function urlOf(a: Attempt): string {
    let i = 0;
    const path = a.route.path.replace(/:[a-z]+/gi, () => encodeURIComponent(a.params[i++] ?? ''));
    const query = new URLSearchParams(a.query).toString();
    return `${path}${query ? `?${query}` : ''}`;
  }

  async function send(a: Attempt) {
    const client = a.who === 'nobody' ? null : (clients.get(a.who) as ConsoleClient);
    const headers: Record<string, string> = {};
    if (client) headers.cookie = client.cookie;
    if (a.origin === 'same') headers.origin = tegami.url;
    if (a.origin === 'other') headers.origin = 'https://evil.example';
    const init: RequestInit = { method: a.route.method, headers, redirect: 'manual' };
    if (a.route.method === 'POST') {
      const body = new URLSearchParams(a.form);
      if (a.csrf === 'right' && client) body.set('_csrf', client.csrf);
      if (a.csrf === 'wrong') body.set('_csrf', 'not-the-token');
      headers['content-type'] = 'application/x-www-form-urlencoded';
      init.body = body;
    }
    const r = await fetch(`${tegami.url}${urlOf(a)}`, init);
    return { status: r.status, headers: r.headers, text: await r.text() };
  }

  test('whatever is sent: no 5xx, no markup, no leak, a refusal changes nothing', async () => {
    let refused = 0;
    let answered = 0;
    // Route by route, so that each gets its share of runs, a form among forty as much as a page.
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(attemptArb(route), async (a) => {
          const where = `${a.who} ${a.route.method} ${urlOf(a).slice(0, 300)}`;
          // Signing in is fuzzed from an address of its own: its lock-outs must not shut out the
          // sessions the other requests use.
          if (a.route.method === 'POST' && a.route.path === '/console/sign-in') {
            const fields = Object.fromEntries(a.form.filter(([k]) => !/^fuzz-|admin/.test(k)));
            const r = await postFormFrom('127.0.0.3', `${tegami.url}/console/sign-in`, fields);
            assert.ok(r.status < 500, `${where}: ${r.status} ${r.text.slice(0, 300)}`);
            assert.ok(!r.text.includes(MARKUP), `${where}: markup came back`);
            return;
          }
          const counts = await rowCounts(db.url);
          const r = await send(a);
          assert.ok(r.status < 500, `${where}: ${r.status} ${r.text.slice(0, 500)}`);
          if (/text\/html/.test(r.headers.get('content-type') ?? '')) {
            assert.equal(r.headers.get('x-content-type-options'), 'nosniff', where);
            assert.equal(r.headers.get('cache-control'), 'no-store', where);
            assert.ok(r.headers.get('content-security-policy'), `${where}: no CSP`);
            // A message's HTML is framed by its own page (sandboxed), and only by the console.
            assert.ok(
              ['DENY', 'SAMEORIGIN'].includes(r.headers.get('x-frame-options') ?? ''),
              where,
            );
          }
          assert.ok(!r.text.includes(MARKUP), `${where}: markup came back unescaped`);
          const location = r.headers.get('location');
          if (location !== null) {
            const target = new URL(location, tegami.url);
            assert.equal(
              target.origin,
              new URL(tegami.url).origin,
              `${where}: redirect to ${location}`,
            );
          }
          if (a.who === 'viewer') {
            // What the request itself holds may be echoed ("no message msg_… in your units").
            const sent = [...a.params, ...a.query.flat(), ...a.form.flat()].join('\n');
            for (const secret of [RESTAURANT_MARK, ...restaurantMessages]) {
              if (sent.includes(secret)) continue;
              assert.ok(!r.text.includes(secret), `${where}: the hotel's viewer saw ${secret}`);
            }
          }
          if (a.who === 'nobody' && !PUBLIC.has(a.route.path)) {
            assert.ok(r.status >= 300, `${where}: ${r.status} without a session`);
          }
          if (r.status >= 400) {
            refused++;
            assert.deepEqual(
              await rowCounts(db.url),
              counts,
              `${where}: refused (${r.status}) but rows changed`,
            );
          } else {
            answered++;
          }
          // A recovery goes on after its answer; the next request's counts begin once it is over.
          const recovery = /^\/console\/recoveries\/(rec_\w+)$/.exec(location ?? '');
          if (a.route.path === '/console/recoveries' && recovery) {
            await waitFor(async () => {
              const rows = await queryDatabase<{ state: string }>(
                db.url,
                'select state from recoveries where id = ?',
                [recovery[1]],
              );
              return rows[0] && rows[0].state !== 'running';
            }, `recovery ${recovery[1]} over`);
          }
          // A sign-out ends the session the next requests would use.
          if (a.route.path.startsWith('/console/sign-out') && r.status < 400) await signInAll();
        }),
        { numRuns: fuzzRuns(15) },
      );
    }
    // Not by chance: both kinds of answers are common among these requests.
    assert.ok(refused > 0 && answered > 0, `refused ${refused}, answered ${answered}`);
  });

  test('markup in any field of a valid request comes back escaped, on every page', async () => {
    const admin = clients.get('admin') as ConsoleClient;
    for (const route of routes) {
      const valid = validFields(route, { hotel: hotelUnit });
      for (let i = 0; i < valid.length; i++) {
        for (const markup of MARKUPS) {
          const fields = valid.map(([k, v], j): [string, string] => [k, i === j ? markup : v]);
          const path = route.path.replace(':id', hotelUnit).replace(':name', 'test');
          const r =
            route.method === 'GET'
              ? await admin.get(`${path}?${new URLSearchParams(fields)}`)
              : await admin.post(path, Object.fromEntries(fields));
          const where = `${route.method} ${path} ${fields[i]?.[0]}=${markup}`;
          assert.ok(r.status < 500, `${where}: ${r.status}`);
          assert.ok(!r.text.includes(MARKUP), `${where}: markup came back unescaped`);
        }
      }
    }
    // What those requests stored (a unit, a key, a user named so) is shown escaped too.
    for (const route of routes.filter((r) => r.method === 'GET' && !r.path.includes(':'))) {
      const r = await admin.get(route.path);
      assert.ok(!r.text.includes(MARKUP), `GET ${route.path}: stored markup came back unescaped`);
    }
  });

  test('every GET page answers its plain request without an error, for an admin', async () => {
    const admin = clients.get('admin') as ConsoleClient;
    for (const route of routes.filter((r) => r.method === 'GET')) {
      const path = route.path
        .replace(':id', hotelMessages[0] as string)
        .replace(':file', 'console.css')
        .replace(':n', '0');
      const r = await admin.get(`${path}${PLAIN_QUERY[route.path] ?? ''}`);
      // An id that names no such object (a recovery, a message's attachment) is a 404, no more.
      assert.ok(
        r.status < 400 || r.status === 404,
        `GET ${path}: ${r.status} ${r.text.slice(0, 300)}`,
      );
    }
  });
});
