import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../src/domain/api-keys.ts';
import { SqlApiKeyStore } from '../src/store/index.ts';
import { request, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, PAGE_PROBLEMS, signInAs } from './support/browser.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The console's API keys page, 50 keys a page, newest first (**Older keys →**), walked as an
 * admin follows its links: every key once; a cursor no link made refused with 400; a key made
 * shown with its secret on the first page, where it is the newest; a key revoked answered on the
 * page it was on, its row saying so.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };

/** Keys made here; with the start's own, two whole pages of 50 and a third. */
const CREATED = 104;

describe(`console API keys page, a page at a time (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  /** Every key's id, newest first, as the page lists them. */
  let all: string[] = [];
  /** The secret of each key made here, by id. */
  const secrets = new Map<string, string>();
  /** The unit `default`'s id, as the form's unit. */
  let unit = '';

  /** The key ids of a keys page's rows, top to bottom, and its "Older keys" link. */
  function rowsOf(text: string): { ids: string[]; older: string | null } {
    const ids = [...text.matchAll(/<tr id="key-(key_[0-9A-Z]{26})">/g)].map((m) => m[1] ?? '');
    const older = /<a href="([^"]+)" rel="next">Older keys →<\/a>/.exec(text)?.[1] ?? null;
    return { ids, older: older === null ? null : older.replaceAll('&amp;', '&') };
  }

  /** The row of a key on a page, as its markup reads. */
  function rowOf(text: string, id: string): string {
    return text.split('<tr ').find((r) => r.startsWith(`id="key-${id}"`)) ?? '';
  }

  const keyCount = async () => (await new SqlApiKeyStore(tegami.service.database).list()).length;

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
    });
    const store = new SqlApiKeyStore(tegami.service.database);
    for (let i = 0; i < CREATED; i++) {
      const { key, record } = await createApiKey(store, `app ${i}`);
      secrets.set(record.id, key);
    }
    all = (await store.list()).map((k) => k.id).reverse();
    assert.ok(all.length > CREATED, 'the keys made here and the start’s');
    unit = (await tegami.request('GET', '/v1/units/default')).body.id;
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test('the pages hold 50, 50 and the rest: every key once, newest first, the last without an older link', async () => {
    const pages: string[][] = [];
    let path: string | null = '/console/keys';
    while (path !== null) {
      const r = await admin.get(path);
      assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 300)}`);
      const { ids, older } = rowsOf(r.text);
      pages.push(ids);
      assert.ok(pages.length <= 3, 'the pages end');
      path = older;
    }
    assert.deepEqual(
      pages.map((p) => p.length),
      [50, 50, all.length - 100],
    );
    assert.deepEqual(pages.flat(), all);
    // Each page's link names the last key shown, as the audit log's does.
    const first = await admin.get('/console/keys');
    assert.equal(rowsOf(first.text).older, `/console/keys?older=${all[49]}`);
    // An empty cursor is the first page (the forms of the first page send none).
    assert.deepEqual(rowsOf((await admin.get('/console/keys?older=')).text).ids, pages[0]);
  });

  test('a cursor no page link made is refused with 400, and says so; a form naming one changes nothing', async () => {
    const unknown = `key_${'0'.repeat(26)}`;
    for (const older of [
      'garbage',
      unknown,
      'unit_01JB8ZQ4W5X3C2V1N0M9K8J7H6',
      `${all[0]}x`,
      (all[0] as string).toLowerCase(),
    ]) {
      const r = await admin.get(`/console/keys?older=${encodeURIComponent(older)}`);
      assert.equal(r.status, 400, `${older}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /<p class="error" role="alert">That page of API keys does not exist\./);
    }
    const twice = await admin.get(`/console/keys?older=${all[0]}&older=${all[1]}`);
    assert.equal(twice.status, 400);
    assert.match(twice.text, /older: give it once\./);
    const keys = await keyCount();
    const created = await admin.post('/console/keys', { name: 'never made', unit, older: unknown });
    assert.equal(created.status, 400, created.text.slice(0, 300));
    assert.match(created.text, /That page of API keys does not exist\./);
    assert.doesNotMatch(created.text, /data-new-key/);
    assert.equal(await keyCount(), keys, 'no key was made');
    const id = all[60] as string;
    const revoked = await admin.post(`/console/keys/${id}/revoke`, { older: 'garbage' });
    assert.equal(revoked.status, 400, revoked.text.slice(0, 300));
    const still = await request(
      tegami.url,
      'GET',
      '/v1/messages?limit=1',
      undefined,
      {},
      secrets.get(id),
    );
    assert.equal(still.status, 200, 'the key still works');
  });

  test('a key made from the second page is shown once, with its secret, first on the first page', async () => {
    const older = all[49] as string;
    const second = await admin.get(`/console/keys?older=${older}`);
    assert.ok(
      second.text.includes(
        `<form method="post" action="/console/keys" class="card inline-form"><input type="hidden" name="_csrf"`,
      ),
    );
    assert.match(second.text, new RegExp(`<input type="hidden" name="older" value="${older}">`));
    const made = await admin.post('/console/keys', { name: 'night shift', unit, older });
    assert.equal(made.status, 200, made.text.slice(0, 300));
    const secret = /data-new-key>([^<]+)</.exec(made.text)?.[1] ?? '';
    assert.match(secret, /^tgm_/);
    const { ids } = rowsOf(made.text);
    const newest = (await new SqlApiKeyStore(tegami.service.database).list()).at(-1);
    assert.equal(newest?.name, 'night shift');
    assert.equal(ids[0], newest?.id, 'its row heads the page');
    assert.deepEqual(ids.slice(1), all.slice(0, 49), 'the first page, one key further on');
    const works = await request(tegami.url, 'GET', '/v1/messages?limit=1', undefined, {}, secret);
    assert.equal(works.status, 200);
    // Shown once: the page again has no secret.
    assert.doesNotMatch((await admin.get('/console/keys')).text, /data-new-key/);
    all = [newest?.id as string, ...all];
  });

  test('a key refused from the second page keeps the form there, and makes nothing', async () => {
    const older = all[50] as string;
    const keys = await keyCount();
    const refused = await admin.post('/console/keys', { name: '   ', unit, older });
    assert.equal(refused.status, 400);
    assert.deepEqual(rowsOf(refused.text).ids, all.slice(51, 101));
    assert.ok(refused.text.includes('role="alert" id="key-error"'));
    assert.match(refused.text, new RegExp(`<input type="hidden" name="older" value="${older}">`));
    assert.equal(await keyCount(), keys);
  });

  test('a key revoked from the second page is answered on the second page, its row saying so', async () => {
    const older = all[50] as string;
    const id = all[70] as string;
    const second = await admin.get(`/console/keys?older=${older}`);
    assert.ok(
      rowOf(second.text, id).includes(`action="/console/keys/${id}/revoke#key-${id}"`),
      'its form is on the second page, and names its row',
    );
    const revoked = await admin.post(`/console/keys/${id}/revoke`, { older });
    assert.equal(revoked.status, 303, revoked.text.slice(0, 300));
    assert.equal(revoked.location, `/console/keys?older=${older}`);
    const answer = await admin.get(revoked.location as string);
    assert.match(rowOf(answer.text, id), /<td>revoked <time/);
    const refused = await request(
      tegami.url,
      'GET',
      '/v1/messages?limit=1',
      undefined,
      {},
      secrets.get(id),
    );
    assert.equal(refused.status, 401);
  });

  test('in a browser, a key revoked on the second page is in view, revoked, when the page comes back', {
    skip: !HAVE_CHROMIUM && 'no Chromium (apt-get install chromium)',
  }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await signInAs(page, tegami.url, ADMIN.email, ADMIN.password);
      const older = all[50] as string;
      const id = all[95] as string;
      await page.goto(`${tegami.url}/console/keys?older=${older}`);
      await Promise.all([
        page.waitForURL(`${tegami.url}/console/keys?older=${older}#key-${id}`),
        page.click(`#key-${id} button[type=submit]`),
      ]);
      await page.waitForLoadState('load');
      const row = page.locator(`#key-${id}`);
      assert.match(((await row.textContent()) ?? '').replace(/\s+/g, ' '), /revoked /);
      const box = await row.boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= 900, 'its row is in view');
      assert.deepEqual(await page.evaluate(PAGE_PROBLEMS), [], page.url());
    } finally {
      await browser.close();
    }
  });
});
