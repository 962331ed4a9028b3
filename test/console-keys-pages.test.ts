import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../src/domain/api-keys.ts';
import { SqlApiKeyStore } from '../src/store/index.ts';
import {
  queryDatabase,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
} from './helpers.ts';
import { HAVE_CHROMIUM, launchBrowser, PAGE_PROBLEMS, signInAs } from './support/browser.ts';
import { followCliPages } from './support/cli-pages.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The console's API keys page, 50 keys a page, newest first (**Older keys →**), walked as an
 * admin follows its links: every key once; a cursor no link made refused with 400; a key made
 * shown with its secret on the first page, where it is the newest; a key revoked answered on the
 * page it was on, its row saying so. `tegami keys list` pages the same keys the same way, and
 * says on standard error how to list the older ones.
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

  const keyCount = () => new SqlApiKeyStore(tegami.service.database).count();

  /** Every key's id, newest first, as the database holds them. */
  async function keysNewestFirst(): Promise<string[]> {
    const rows = await queryDatabase<{ id: string }>(
      tegami.databaseUrl,
      'select id from api_keys order by id desc',
    );
    return rows.map((r) => r.id);
  }

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
    all = await keysNewestFirst();
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
    const [newest] = await new SqlApiKeyStore(tegami.service.database).listPage({ limit: 1 });
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

  /** `tegami keys list …` against this database, its standard output and error apart. */
  async function keysList(...flags: string[]) {
    const listed = await runTegami(
      ['keys', 'list', ...flags],
      { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' },
      { apart: true },
    );
    // The id each line begins with (there is no header).
    const rows = listed.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => /^(key_[0-9A-Z]{26})\t/.exec(line)?.[1] ?? line);
    return { ...listed, rows };
  }

  test('tegami keys list pages as the console does, the command for older keys on standard error', async () => {
    // Followed as it says, to the end: every key once, the last page saying nothing more, each
    // page the console's page of the same keys.
    const listed = await followCliPages(keysList, { command: 'keys', most: 3 });
    const [first] = listed;
    // Each line as it always was: id, prefix, state, creation time, unit, name; a revoked key
    // listed too, saying so.
    assert.match(
      first.stdout,
      new RegExp(
        `^${all[1]}\\ttgm_[A-Za-z0-9_-]{4}…\\tactive\\t\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\tdefault\\tapp ${CREATED - 1}$`,
        'm',
      ),
    );
    assert.deepEqual(first.rows, all.slice(0, 50), 'the newest 50, as the first page shows them');
    assert.equal(first.stderr, `Older keys: tegami keys list --before ${all[49]}\n`);

    const pages = listed.map((page) => page.rows);
    assert.deepEqual(
      pages.map((p) => p.length),
      [50, 50, all.length - 100],
    );
    assert.deepEqual(pages.flat(), all);
    assert.deepEqual(rowsOf((await admin.get('/console/keys')).text).ids, pages[0]);
    assert.deepEqual(
      rowsOf((await admin.get(`/console/keys?older=${all[49]}`)).text).ids,
      pages[1],
    );
    assert.deepEqual(
      rowsOf((await admin.get(`/console/keys?older=${all[99]}`)).text).ids,
      pages[2],
    );
    const second = await keysList('--before', all[49] as string);
    assert.match(
      second.stdout.split('\n').find((line) => line.startsWith(`${all[70]}\t`)) ?? '',
      /\trevoked \d{4}-\d\d-\d\dT[\d:.]+Z\t/,
      'the key revoked above is listed, revoked',
    );

    // --limit sets the page, and the command for the next one keeps it.
    const small = await keysList('--limit', '7', '--before', all[2] as string);
    assert.equal(small.code, 0, small.stderr);
    assert.deepEqual(small.rows, all.slice(3, 10));
    assert.equal(small.stderr, `Older keys: tegami keys list --before ${all[9]} --limit 7\n`);
    const whole = await keysList('--limit', '500');
    assert.deepEqual(whole.rows, all);
    assert.equal(whole.stderr, '', 'nothing older');
  });

  test('tegami keys list: a bad --limit or --before is a usage error (64), an id of no key exits 2; nothing changes', async () => {
    const revokedBefore = await queryDatabase<{ id: string; revoked_at: number | null }>(
      tegami.databaseUrl,
      'select id, revoked_at from api_keys order by id',
    );
    const refused: [string[], RegExp][] = [
      [['--limit', '0'], /--limit must be a whole number from 1 to 500/],
      [['--limit', '501'], /--limit must be a whole number from 1 to 500/],
      [['--limit', '2.5'], /--limit must be a whole number from 1 to 500/],
      [['--limit='], /--limit must be a whole number from 1 to 500/],
      [['--before', 'garbage'], /--before must be a key's id \(key_/],
      [['--before', (all[0] as string).toLowerCase()], /--before must be a key's id/],
      [['--before', `usr_${'0'.repeat(26)}`], /--before must be a key's id/],
      [['--name', 'shop'], /unknown option "--name"/],
    ];
    // Side by side: each is a process of its own, refused before it opens the database.
    const answers = await Promise.all(refused.map(([flags]) => keysList(...flags)));
    refused.forEach(([flags, said], i) => {
      const r = answers[i] as Awaited<ReturnType<typeof keysList>>;
      assert.equal(r.code, 64, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, said, flags.join(' '));
      assert.match(
        r.stderr,
        /Usage: tegami keys list \[--limit N\] \[--before ID\]/,
        'with the usage',
      );
      assert.equal(r.stdout, '', 'no keys listed');
    });
    const unknown = await keysList('--before', `key_${'0'.repeat(26)}`);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.equal(
      unknown.stderr,
      `tegami keys: no key has the id key_${'0'.repeat(26)} (see tegami keys list)\n`,
    );
    assert.equal(unknown.stdout, '');
    assert.deepEqual(await keysNewestFirst(), all, 'no key was made');
    assert.deepEqual(
      await queryDatabase(tegami.databaseUrl, 'select id, revoked_at from api_keys order by id'),
      revokedBefore,
      'none was revoked',
    );
  });
});
