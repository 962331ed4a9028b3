import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../src/domain/ids.ts';
import { consoleUserStore } from '../src/store/console/store.ts';
import {
  queryDatabase,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
} from './helpers.ts';
import { followCliPages } from './support/cli-pages.ts';
import { type ConsoleClient, signIn } from './support/console.ts';

/**
 * The console's users page after "Create user", as a browser's requests meet it: the answer sends
 * the admin to the page, whose link names the new user by id, and the page says the user was
 * created by the address the users hold; a link cannot make it say anything else.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';

describe(`console users page: a user created is said so (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;

  /** The notice of a users page that a user was created, as it reads, or null. */
  function createdNotice(text: string): string | null {
    const notice = /<div class="card notice" role="status" id="user-created">(.*?)<\/div>/s.exec(
      text,
    )?.[1];
    return notice === undefined ? null : notice.replace(/<[^>]+>/g, '').trim();
  }

  /** The id the database gave the user with this address. */
  async function idOf(email: string): Promise<string> {
    const rows = await queryDatabase<{ id: string }>(
      tegami.databaseUrl,
      'select id from console_users where email = ?',
      [email],
    );
    assert.equal(rows.length, 1, `${email} was created`);
    return rows[0]?.id as string;
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
    });
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test('the answer to "Create user" is the users page saying so, the address linking to its row', async () => {
    const r = await admin.post('/console/users', {
      email: 'Night-Desk@Example.jp',
      password: PASSWORD,
      role: 'operator',
      units: '*',
    });
    assert.equal(r.status, 303, r.text.slice(0, 300));
    const id = await idOf('night-desk@example.jp');
    assert.equal(r.location, `/console/users?created=${id}`);
    const shown = await admin.get(r.location ?? '');
    assert.equal(shown.status, 200);
    // The address as the users hold it (in lower case), not as it was typed.
    assert.equal(createdNotice(shown.text), 'Created user night-desk@example.jp.');
    assert.ok(shown.text.includes(`<a href="#user-${id}"><strong>night-desk@example.jp</strong>`));
    assert.ok(shown.text.includes(`<tr id="user-${id}">`), 'its row, which the link opens at');
    assert.ok(!shown.text.includes(PASSWORD), 'the password is not shown');
    // A page without a user just created says none was.
    assert.equal(createdNotice((await admin.get('/console/users')).text), null);
    // A refused form says no user was created, and no notice that one was.
    const refused = await admin.post('/console/users', {
      email: 'night-desk@example.jp',
      password: PASSWORD,
      role: 'operator',
    });
    assert.equal(refused.status, 409, refused.text.slice(0, 300));
    assert.equal(createdNotice(refused.text), null);
  });

  test('the notice says the address the users hold, whatever the link: one naming no user is refused with 400', async () => {
    const adminId = await idOf(ADMIN.email);
    const named = await admin.get(`/console/users?created=${adminId}`);
    assert.equal(named.status, 200);
    assert.equal(createdNotice(named.text), `Created user ${ADMIN.email}.`);
    for (const created of [
      'Hacked: send your password',
      `usr_${'0'.repeat(26)}`,
      `${adminId}x`,
      'admin@example.jp',
    ]) {
      const r = await admin.get(`/console/users?created=${encodeURIComponent(created)}`);
      assert.equal(r.status, 400, `${created}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /<p class="error" role="alert">That user does not exist\./);
      assert.ok(!r.text.includes('Hacked'), 'the link is not shown back');
    }
    // An empty one is no user created: the page as it is.
    const empty = await admin.get('/console/users?created=');
    assert.equal(empty.status, 200);
    assert.equal(createdNotice(empty.text), null);
  });
});

/**
 * The users page, 50 users a page, newest first (**Older users →**), walked as an admin follows
 * its links: every user once; a cursor no link made refused with 400; a user created from any
 * page answered on the first, where it is the newest; a form refused answered on its own page.
 * `tegami users list` pages the same users the same way, and says on standard error how to list
 * the older ones.
 */
/** Users made here; with the first admin, two whole pages of 50 and a third. */
const MADE = 104;

describe(`console users page, a page at a time (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let admin: ConsoleClient;
  /** Every user's id, newest first, as the page lists them. */
  let all: string[] = [];

  /** The user ids of a users page's rows, top to bottom, and its "Older users" link. */
  function rowsOf(text: string): { ids: string[]; older: string | null } {
    const ids = [...text.matchAll(/<tr id="user-(usr_[0-9A-Z]{26})">/g)].map((m) => m[1] ?? '');
    const older = /<a href="([^"]+)" rel="next">Older users →<\/a>/.exec(text)?.[1] ?? null;
    return { ids, older: older === null ? null : older.replaceAll('&amp;', '&') };
  }

  /** Every user's id, newest first, as the database holds them. */
  async function usersNewestFirst(): Promise<string[]> {
    const rows = await queryDatabase<{ id: string }>(
      tegami.databaseUrl,
      'select id from console_users order by id desc',
    );
    return rows.map((r) => r.id);
  }

  before(async () => {
    tegami = await startTestService({
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
      TEGAMI_PROVIDER: 'test',
    });
    // Straight into the store: their passwords are never used, and hashing 104 would be slow.
    // Addresses in the reverse of their order of creation: the page's order is not theirs.
    const store = consoleUserStore(tegami.service.database);
    for (let i = 0; i < MADE; i++) {
      const made = await store.createUser(
        {
          id: newId('usr'),
          email: `desk-${String(MADE - i).padStart(3, '0')}@example.jp`,
          passwordHash: 'never-used',
          role: 'viewer',
          unitIds: null,
          canReadBodies: false,
          createdAt: Date.now(),
        },
        null,
      );
      assert.ok(made);
    }
    all = await usersNewestFirst();
    assert.equal(all.length, MADE + 1, 'the users made here and the first admin');
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
  });

  after(async () => {
    await tegami.stop();
  });

  test('the pages hold 50, 50 and the rest: every user once, newest first, the last without an older link', async () => {
    const pages: string[][] = [];
    let path: string | null = '/console/users';
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
    const first = await admin.get('/console/users');
    assert.equal(rowsOf(first.text).older, `/console/users?older=${all[49]}`);
    // An empty cursor is the first page (the forms of the first page send none).
    assert.deepEqual(rowsOf((await admin.get('/console/users?older=')).text).ids, pages[0]);
  });

  test('a cursor no page link made is refused with 400, and says so; a form naming one creates nothing', async () => {
    const unknown = `usr_${'0'.repeat(26)}`;
    for (const older of [
      'garbage',
      unknown,
      'key_01JB8ZQ4W5X3C2V1N0M9K8J7H6',
      `${all[0]}x`,
      (all[0] as string).toLowerCase(),
    ]) {
      const r = await admin.get(`/console/users?older=${encodeURIComponent(older)}`);
      assert.equal(r.status, 400, `${older}: ${r.text.slice(0, 300)}`);
      assert.match(r.text, /<p class="error" role="alert">That page of users does not exist\./);
    }
    const twice = await admin.get(`/console/users?older=${all[0]}&older=${all[1]}`);
    assert.equal(twice.status, 400);
    const created = await admin.post('/console/users', {
      email: 'never-made@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: '*',
      older: unknown,
    });
    assert.equal(created.status, 400, created.text.slice(0, 300));
    assert.match(created.text, /That page of users does not exist\./);
    assert.deepEqual(await usersNewestFirst(), all, 'no user was created');
  });

  test('a user created from the second page is answered on the first, which it heads, saying so', async () => {
    const older = all[49] as string;
    const second = await admin.get(`/console/users?older=${older}`);
    assert.match(second.text, new RegExp(`<input type="hidden" name="older" value="${older}">`));
    const r = await admin.post('/console/users', {
      email: 'zz-last-by-address@example.jp',
      password: PASSWORD,
      role: 'operator',
      units: '*',
      older,
    });
    assert.equal(r.status, 303, r.text.slice(0, 300));
    const [newest] = await usersNewestFirst();
    assert.equal(r.location, `/console/users?created=${newest}`);
    const shown = await admin.get(r.location ?? '');
    assert.equal(shown.status, 200);
    const { ids } = rowsOf(shown.text);
    assert.equal(ids[0], newest, 'its row heads the page');
    assert.deepEqual(ids.slice(1), all.slice(0, 49), 'the first page, one user further on');
    assert.ok(
      shown.text.includes(`<a href="#user-${newest}"><strong>zz-last-by-address@example.jp`),
    );
    all = [newest as string, ...all];
  });

  test('a user refused from the second page keeps the form there, and creates nothing', async () => {
    const older = all[50] as string;
    const refused = await admin.post('/console/users', {
      email: 'desk-001@example.jp',
      password: PASSWORD,
      role: 'viewer',
      units: '*',
      older,
    });
    assert.equal(refused.status, 409, refused.text.slice(0, 300));
    assert.ok(refused.text.includes('role="alert" id="user-error"'));
    assert.deepEqual(rowsOf(refused.text).ids, all.slice(51, 101));
    assert.match(refused.text, new RegExp(`<input type="hidden" name="older" value="${older}">`));
    assert.deepEqual(await usersNewestFirst(), all, 'no user was created');
  });

  test('a user created that is no longer on the first page is still said, without a link to its row', async () => {
    const old = all[80] as string;
    const r = await admin.get(`/console/users?created=${old}`);
    assert.equal(r.status, 200);
    const notice = /<div class="card notice" role="status" id="user-created">(.*?)<\/div>/s.exec(
      r.text,
    )?.[1];
    assert.match(notice ?? '', /Created user <strong>desk-\d{3}@example\.jp<\/strong>\./);
    assert.ok(!rowsOf(r.text).ids.includes(old));
  });

  /** `tegami users list …` against this database, its standard output and error apart. */
  async function usersList(...flags: string[]) {
    const listed = await runTegami(
      ['users', 'list', ...flags],
      { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' },
      { apart: true },
    );
    // The ID column of each row under the header.
    const rows = listed.stdout
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => /(usr_[0-9A-Z]{26})$/.exec(line)?.[1] ?? line);
    return { ...listed, rows };
  }

  test('tegami users list pages as the console does, the command for older users on standard error', async () => {
    // Followed as it says, to the end: every user once, the last page saying nothing more.
    const listed = await followCliPages(usersList, { command: 'users', most: 3 });
    const [first] = listed;
    // Each line as it always was: the header, then a user's address, role, units, content,
    // state and id.
    assert.match(first.stdout, /^EMAIL\s+ROLE\s+UNITS\s+CONTENT\s+STATE\s+ID\n/);
    assert.match(
      first.stdout,
      new RegExp(`^desk-\\d{3}@example\\.jp +viewer +all +metadata only +active +${all[1]}$`, 'm'),
    );
    assert.deepEqual(first.rows, all.slice(0, 50), 'the newest 50, as the first page shows them');
    assert.equal(first.stderr, `Older users: tegami users list --before ${all[49]}\n`);

    const pages = listed.map((page) => page.rows);
    assert.deepEqual(
      pages.map((p) => p.length),
      [50, 50, all.length - 100],
    );
    assert.deepEqual(pages.flat(), all);

    // --limit sets the page, and the command for the next one keeps it.
    const small = await usersList('--limit', '7', '--before', all[2] as string);
    assert.equal(small.code, 0, small.stderr);
    assert.deepEqual(small.rows, all.slice(3, 10));
    assert.equal(small.stderr, `Older users: tegami users list --before ${all[9]} --limit 7\n`);
    const whole = await usersList('--limit', '500');
    assert.deepEqual(whole.rows, all);
    assert.equal(whole.stderr, '', 'nothing older');
  });

  test('tegami users list: a bad --limit or --before is a usage error (64), an id of no user exits 2; nothing changes', async () => {
    const refused: [string[], RegExp][] = [
      [['--limit', '0'], /--limit must be a whole number from 1 to 500/],
      [['--limit', '501'], /--limit must be a whole number from 1 to 500/],
      [['--limit', '2.5'], /--limit must be a whole number from 1 to 500/],
      [['--limit='], /--limit must be a whole number from 1 to 500/],
      [['--before', 'garbage'], /--before must be a user's id \(usr_/],
      [['--before', (all[0] as string).toLowerCase()], /--before must be a user's id/],
      [['--role', 'admin'], /--role is for create only/],
    ];
    // Side by side: each is a process of its own, refused before it opens the database.
    const answers = await Promise.all(refused.map(([flags]) => usersList(...flags)));
    refused.forEach(([flags, said], i) => {
      const r = answers[i] as Awaited<ReturnType<typeof usersList>>;
      assert.equal(r.code, 64, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, said, flags.join(' '));
      assert.match(r.stderr, /Usage: tegami users create/, 'with the usage');
      assert.equal(r.stdout, '', 'no users listed');
    });
    const unknown = await usersList('--before', `usr_${'0'.repeat(26)}`);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.equal(
      unknown.stderr,
      `tegami users: no user has the id usr_${'0'.repeat(26)} (see tegami users list)\n`,
    );
    assert.equal(unknown.stdout, '');
    assert.deepEqual(await usersNewestFirst(), all, 'no user was made or changed');
  });
});
